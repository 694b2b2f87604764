<%@ page contentType="application/json; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%-- Session-less: a balancer's health check must not create sessions. --%>
<%-- "deployed" is new each time the context starts, so a reload can be waited for. --%>
<% String node = application.getInitParameter("tomcat-bench.node");
   Object deployed = application.getAttribute("tomcat-bench.deployed");
   if (deployed == null) {
       synchronized (application) {
           deployed = application.getAttribute("tomcat-bench.deployed");
           if (deployed == null) {
               deployed = Long.toString(System.currentTimeMillis()) + "-" + System.identityHashCode(application);
               application.setAttribute("tomcat-bench.deployed", deployed);
           }
       }
   } %>
{"status":"ok","node":"<%= node != null ? node : System.getProperty("jvmRoute", "unknown") %>","server":"<%= application.getServerInfo() %>","java":"<%= System.getProperty("java.version") %>","deployed":"<%= deployed %>"}
