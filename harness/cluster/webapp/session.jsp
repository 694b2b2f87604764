<%@ page contentType="application/json; charset=UTF-8" session="true" trimDirectiveWhitespaces="true" %>
<%--
  One JSON object per reply, so a client parses it without guessing:
  {"session": id as Tomcat reports it (may end in .jvmRoute), "node": the jvmRoute
   that served it, "counter": this session's request count, "new": session.isNew()}
  The counter is written back with setAttribute on every request: that is what a
  session store replicates, so a counter that continues proves the data survived.
  ?size=N (0 to 1048576) also keeps an N-byte attribute "payload" in the session and
  sets it again on every request, so the store carries N more bytes each time
  (random bytes, made once per session: no store or codec can compress them away).
--%>
<%
    String sizeParam = request.getParameter("size");
    int size = -1;
    if (sizeParam != null) {
        try {
            size = Integer.parseInt(sizeParam);
        } catch (NumberFormatException e) {
            size = Integer.MIN_VALUE;
        }
        if (size < 0 || size > 1048576) {
            response.sendError(400, "size: a number of bytes from 0 to 1048576");
            return;
        }
    }
    Integer previous = (Integer) session.getAttribute("counter");
    int counter = previous == null ? 1 : previous + 1;
    session.setAttribute("counter", Integer.valueOf(counter));
    if (size >= 0) {
        byte[] payload = (byte[]) session.getAttribute("payload");
        if (payload == null || payload.length != size) {
            payload = new byte[size];
            java.util.concurrent.ThreadLocalRandom.current().nextBytes(payload);
        }
        session.setAttribute("payload", payload);
    }
    // The probe on one's own nodes names its node in web.xml; the lab sets -DjvmRoute.
    String node = application.getInitParameter("tomcat-bench.node");
    if (node == null) {
        node = System.getProperty("jvmRoute", "unknown");
    }
    response.setHeader("Cache-Control", "no-store");
    response.setHeader("X-Node", node);
%>
{"session":"<%= session.getId() %>","node":"<%= node %>","counter":<%= counter %>,"new":<%= session.isNew() %>}
