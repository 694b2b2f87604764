<%@ page contentType="application/json; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%-- Session-less: a balancer's health check must not create sessions. --%>
{"status":"ok","node":"<%= System.getProperty("jvmRoute", "unknown") %>","server":"<%= application.getServerInfo() %>","java":"<%= System.getProperty("java.version") %>"}
