<%@ page contentType="application/json; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%-- Session-less: a balancer's health check must not create sessions. --%>
<% String node = application.getInitParameter("tomcat-bench.node"); %>
{"status":"ok","node":"<%= node != null ? node : System.getProperty("jvmRoute", "unknown") %>","server":"<%= application.getServerInfo() %>","java":"<%= System.getProperty("java.version") %>"}
