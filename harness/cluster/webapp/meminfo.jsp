<%-- The guide's meminfo page: the JVM's max, total and free memory, in MB, plus what is
     still available (max - total + free). ?format=json answers in JSON for the harness. --%>
<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %><%
    Runtime rt = Runtime.getRuntime();
    long mb = 1024L * 1024L;
    long max = rt.maxMemory(), total = rt.totalMemory(), free = rt.freeMemory();
    long available = max - total + free;
    if ("json".equals(request.getParameter("format"))) {
        response.setContentType("application/json; charset=UTF-8");
        out.print("{\"max_bytes\":" + max + ",\"total_bytes\":" + total + ",\"free_bytes\":" + free
            + ",\"available_bytes\":" + available + "}");
    } else {
        out.println("JVM memory detail info :");
        out.println("Max memory:" + (max / mb) + "MB");
        out.println("Total memory:" + (total / mb) + "MB");
        out.println("Free memory:" + (free / mb) + "MB");
        out.println("Available memory can be used is :" + (available / mb) + "MB");
    }
%>
