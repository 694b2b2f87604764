// Reads a running Tomcat's MBeans over a JMX agent bound to a loopback address, and
// prints them as one JSON object per line. Used by harness/cluster/jvm.py; no dependencies
// beyond the JDK, so it runs as `java JvmProbe.java ...` on any node with a JDK.
//
//   java JvmProbe HOST:PORT [--every-ms N --count N]      read (once, or N times)
//   java JvmProbe HOST:PORT --invoke OBJECTNAME OP [ARG]  invoke an operation
//
// Before either, --start-agent PID DIR attaches to the JVM and starts its JMX agent on
// HOST:PORT with DIR's password and access files (what `jcmd PID ManagementAgent.start`
// does, without a JVM of its own for jcmd); --vm-flags adds the JVM's flags to a reading
// ("vm_flags": the text of `jcmd PID VM.flags`, from the DiagnosticCommand MBean).
//
// The JMX user and password come on stdin ("user password"), never on the command line,
// where `ps` would show them.

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.MemoryUsage;
import java.net.ServerSocket;
import java.net.Socket;
import java.rmi.server.RMISocketFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;
import com.sun.tools.attach.VirtualMachine;

public class JvmProbe {
    static final String[] EXECUTOR = {
        "name", "maxThreads", "minSpareThreads", "maxQueueSize", "maxIdleTime",
        "prestartminSpareThreads", "poolSize", "activeCount", "queueSize",
        "largestPoolSize", "completedTaskCount", "corePoolSize"};
    static final String[] THREAD_POOL = {
        "name", "maxThreads", "minSpareThreads", "currentThreadCount", "currentThreadsBusy",
        "connectionCount", "maxConnections", "acceptCount", "executorName"};
    static final String[] CONNECTOR = {
        "port", "protocol", "protocolHandlerClassName", "scheme", "secure", "stateName",
        "address", "connectionTimeout", "acceptCount", "maxConnections",
        "maxKeepAliveRequests", "keepAliveTimeout", "enableLookups", "maxPostSize",
        "URIEncoding", "compression", "disableUploadTimeout", "connectionUploadTimeout",
        "executorName", "maxThreads", "minSpareThreads", "secretRequired"};
    static final String[] REQUESTS = {
        "requestCount", "errorCount", "bytesSent", "processingTime", "maxTime"};

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Exception e) {
            // One line naming the cause, for the harness's error message.
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            System.err.println("JvmProbe: " + e + (root != e ? " (" + root + ")" : ""));
            System.exit(1);
        }
    }

    static void run(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: JvmProbe HOST:PORT [--every-ms N --count N | --invoke NAME OP [ARG]]");
            System.exit(2);
        }
        String[] credentials = new BufferedReader(new InputStreamReader(System.in))
            .readLine().trim().split("\\s+", 2);
        Map<String, Object> env = new HashMap<>();
        env.put(JMXConnector.CREDENTIALS, credentials);
        // The agent's RMI stub names the host by java.rmi.server.hostname (by default the
        // machine's name, often 127.0.0.1), not the loopback address the agent is bound
        // to: send every RMI connection to the address we were given.
        String host = args[0].substring(0, args[0].lastIndexOf(':'));
        RMISocketFactory.setSocketFactory(new RMISocketFactory() {
            public Socket createSocket(String ignored, int port) throws IOException {
                return new Socket(host, port);
            }

            public ServerSocket createServerSocket(int port) throws IOException {
                throw new IOException("JvmProbe exports nothing");
            }
        });
        List<String> rest = new ArrayList<>();
        boolean vmFlags = false;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--start-agent") && i + 2 < args.length) {
                startAgent(args[i + 1], host, args[0].substring(host.length() + 1), args[i + 2]);
                i += 2;
            } else if (args[i].equals("--vm-flags")) {
                vmFlags = true;
            } else {
                rest.add(args[i]);
            }
        }
        rest.add(0, args[0]);
        args = rest.toArray(new String[0]);
        JMXServiceURL url = new JMXServiceURL(
            "service:jmx:rmi:///jndi/rmi://" + args[0] + "/jmxrmi");
        try (JMXConnector connector = JMXConnectorFactory.connect(url, env)) {
            MBeanServerConnection mbs = connector.getMBeanServerConnection();
            if (args.length >= 4 && args[1].equals("--invoke")) {
                invoke(mbs, args);
                return;
            }
            long every = 0;
            int count = 1;
            for (int i = 1; i + 1 < args.length; i += 2) {
                if (args[i].equals("--every-ms")) every = Long.parseLong(args[i + 1]);
                if (args[i].equals("--count")) count = Integer.parseInt(args[i + 1]);
            }
            for (int n = 0; n < count; n++) {
                long began = System.currentTimeMillis();
                Map<String, Object> reading = read(mbs);
                if (vmFlags && n == 0) reading.put("vm_flags", vmFlags(mbs));
                System.out.println(json(reading));
                System.out.flush();
                if (n + 1 < count && every > 0) {
                    Thread.sleep(Math.max(0, every - (System.currentTimeMillis() - began)));
                }
            }
        }
    }

    // The agent listens on the node's own address and port only (the RMI port too, so
    // nothing else opens), password-protected; SSL off: loopback, the password keeps
    // others out.
    static void startAgent(String pid, String host, String port, String dir) throws Exception {
        Properties agent = new Properties();
        String prefix = "com.sun.management.jmxremote.";
        agent.setProperty(prefix + "host", host);
        agent.setProperty(prefix + "port", port);
        agent.setProperty(prefix + "rmi.port", port);
        agent.setProperty(prefix + "authenticate", "true");
        agent.setProperty(prefix + "ssl", "false");
        agent.setProperty(prefix + "password.file", dir + "/jmx.password");
        agent.setProperty(prefix + "access.file", dir + "/jmx.access");
        VirtualMachine vm = VirtualMachine.attach(pid);
        try {
            vm.startManagementAgent(agent);
        } finally {
            vm.detach();
        }
    }

    static String vmFlags(MBeanServerConnection mbs) throws Exception {
        return String.valueOf(mbs.invoke(
            new ObjectName("com.sun.management:type=DiagnosticCommand"), "vmFlags",
            new Object[] {new String[0]}, new String[] {String[].class.getName()}));
    }

    static void invoke(MBeanServerConnection mbs, String[] args) throws Exception {
        ObjectName name = new ObjectName(args[2]);
        Object[] params = args.length > 4 ? new Object[] {args[4]} : new Object[0];
        String[] signature = args.length > 4 ? new String[] {"java.lang.String"} : new String[0];
        Object result = mbs.invoke(name, args[3], params, signature);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("invoked", args[3]);
        out.put("on", args[2]);
        out.put("result", result == null ? null : String.valueOf(result));
        System.out.println(json(out));
    }

    static Map<String, Object> read(MBeanServerConnection mbs) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("t_ms", System.currentTimeMillis());
        out.put("executors", beans(mbs, "Catalina:type=Executor,*", EXECUTOR));
        out.put("thread_pools", beans(mbs, "Catalina:type=ThreadPool,*", THREAD_POOL));
        out.put("connectors", beans(mbs, "Catalina:type=Connector,*", CONNECTOR));
        out.put("requests", beans(mbs, "Catalina:type=GlobalRequestProcessor,*", REQUESTS));
        out.put("contexts", contexts(mbs));
        CompositeData heap = (CompositeData) mbs.getAttribute(
            new ObjectName("java.lang:type=Memory"), "HeapMemoryUsage");
        MemoryUsage usage = MemoryUsage.from(heap);
        Map<String, Object> memory = new LinkedHashMap<>();
        memory.put("init", usage.getInit());
        memory.put("used", usage.getUsed());
        memory.put("committed", usage.getCommitted());
        memory.put("max", usage.getMax());
        out.put("heap", memory);
        List<Object> gcs = new ArrayList<>();
        for (ObjectName gc : sorted(mbs.queryNames(
                new ObjectName("java.lang:type=GarbageCollector,*"), null))) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("name", gc.getKeyProperty("name"));
            one.put("count", mbs.getAttribute(gc, "CollectionCount"));
            one.put("time_ms", mbs.getAttribute(gc, "CollectionTime"));
            gcs.add(one);
        }
        out.put("gc", gcs);
        out.put("live_threads",
            mbs.getAttribute(new ObjectName("java.lang:type=Threading"), "ThreadCount"));
        return out;
    }

    // Deployed web applications and their session counts (StandardManager and friends).
    static List<Object> contexts(MBeanServerConnection mbs) throws Exception {
        List<Object> out = new ArrayList<>();
        for (ObjectName name : sorted(mbs.queryNames(
                new ObjectName("Catalina:type=Manager,*"), null))) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("context", name.getKeyProperty("context"));
            for (String attribute : new String[] {"activeSessions", "sessionCounter",
                    "expiredSessions", "pathname", "className"}) {
                try {
                    one.put(attribute, mbs.getAttribute(name, attribute));
                } catch (Exception e) {
                    // A manager without this attribute (Redisson, msm) simply lacks it.
                }
            }
            out.add(one);
        }
        return out;
    }

    static List<Object> beans(MBeanServerConnection mbs, String query, String[] attributes)
            throws Exception {
        List<Object> out = new ArrayList<>();
        for (ObjectName name : sorted(mbs.queryNames(new ObjectName(query), null))) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("objectName", name.toString());
            for (String attribute : attributes) {
                try {
                    Object value = mbs.getAttribute(name, attribute);
                    one.put(attribute, value);
                } catch (Exception e) {
                    // Not every Tomcat version or protocol has every attribute.
                }
            }
            out.add(one);
        }
        return out;
    }

    static Set<ObjectName> sorted(Set<ObjectName> names) {
        Set<ObjectName> out = new TreeSet<>((a, b) -> a.toString().compareTo(b.toString()));
        out.addAll(names);
        return out;
    }

    static String json(Object value) {
        if (value == null) return "null";
        if (value instanceof Boolean || value instanceof Integer || value instanceof Long
                || value instanceof Short) {
            return value.toString();
        }
        if (value instanceof Number) {
            double d = ((Number) value).doubleValue();
            return Double.isFinite(d) ? value.toString() : "null";
        }
        if (value instanceof Map) {
            StringBuilder b = new StringBuilder("{");
            for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
                if (b.length() > 1) b.append(',');
                b.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
            }
            return b.append('}').toString();
        }
        if (value instanceof List) {
            StringBuilder b = new StringBuilder("[");
            for (Object item : (List<?>) value) {
                if (b.length() > 1) b.append(',');
                b.append(json(item));
            }
            return b.append(']').toString();
        }
        String s = value.toString();
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
