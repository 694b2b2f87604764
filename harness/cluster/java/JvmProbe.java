// Reads a running Tomcat's MBeans over a JMX agent bound to a loopback address, and
// prints them as one JSON object per line. Used by harness/cluster/jvm.py; no dependencies
// beyond the JDK, so it runs as `java JvmProbe.java ...` on any node with a JDK.
//
//   java JvmProbe HOST:PORT [--every-ms N --count N]      read (once, or N times)
//   java JvmProbe HOST:PORT --invoke OBJECTNAME OP [ARG]  invoke an operation
//   java JvmProbe --serve                                 answer requests from stdin
//
// Before a reading or an invocation, --start-agent PID DIR attaches to the JVM and starts
// its JMX agent on HOST:PORT with DIR's password and access files (what `jcmd PID
// ManagementAgent.start` does, without a JVM of its own for jcmd); --vm-flags adds the
// JVM's flags to a reading ("vm_flags": the text of `jcmd PID VM.flags`, from the
// DiagnosticCommand MBean); --gc-run has the JVM collect its garbage first (`jcmd PID
// GC.run`, through the same MBean: a heap reading of live objects only). --stop-agent PID
// attaches and stops the JVM's JMX agent instead (`jcmd PID ManagementAgent.stop`, which
// the MBean does not offer; it needs --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED):
// the agent's RMI accept thread, blocked in native code, made the JVM wait 0.3 s at exit.
//
// The JMX user and password come on stdin ("user password"), never on the command line,
// where `ps` would show them.
//
// --serve is for the embedded lab, whose nodes all run on this machine: one JVM answers
// every reading of the harness, so a reading costs a round trip instead of a JVM start.
// Each stdin line is a request, its fields separated by tabs:
//   ID  USER PASSWORD  HOST:PORT  [OPTION]...     (the options above, one per field)
// and each gets one line back, in any order: {"id":"ID","reply":{...}} or
// {"id":"ID","error":"..."}. A connection is kept per node and made again, once, when the
// node was restarted. Its nodes' RMI stubs must name their own address
// (-Djava.rmi.server.hostname, which the lab sets): with many nodes on one port, a stub
// naming anything else could not be told apart, so it is refused, not guessed.
// End of stdin ends it.

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.management.MemoryUsage;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.rmi.server.RMISocketFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
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
    // How often a container's background thread runs: a Host's deployer looks at its
    // applications then (autoDeploy, a watched web.xml). -1 in a Host: its Engine's.
    static final String[] ENGINE = {"name", "backgroundProcessorDelay"};
    static final String[] HOST = {"name", "backgroundProcessorDelay", "autoDeploy"};

    public static void main(String[] args) {
        try {
            if (args.length == 1 && args[0].equals("--serve")) {
                serve();
            } else {
                run(args);
            }
        } catch (Exception e) {
            System.err.println("JvmProbe: " + describe(e));
            System.exit(1);
        }
    }

    // One line naming the cause, for the harness's error message.
    static String describe(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null) root = root.getCause();
        return e + (root != e ? " (" + root + ")" : "");
    }

    // What one command line (or one --serve request) asks for.
    static final class Request {
        String target;
        String host;
        String port;
        String agentPid;
        String agentDir;
        boolean vmFlags;
        boolean gcRun;
        String stopAgentPid;
        String[] invoke;  // OBJECTNAME OP [ARG]
        long everyMs;
        int count = 1;

        static Request parse(String[] args) {
            Request r = new Request();
            r.target = args[0];
            int colon = r.target.lastIndexOf(':');
            if (colon <= 0) throw new IllegalArgumentException("not HOST:PORT: " + r.target);
            r.host = r.target.substring(0, colon);
            r.port = r.target.substring(colon + 1);
            for (int i = 1; i < args.length; i++) {
                if (args[i].equals("--start-agent") && i + 2 < args.length) {
                    r.agentPid = args[++i];
                    r.agentDir = args[++i];
                } else if (args[i].equals("--vm-flags")) {
                    r.vmFlags = true;
                } else if (args[i].equals("--gc-run")) {
                    r.gcRun = true;
                } else if (args[i].equals("--stop-agent") && i + 1 < args.length) {
                    r.stopAgentPid = args[++i];
                } else if (args[i].equals("--invoke") && i + 2 < args.length) {
                    r.invoke = Arrays.copyOfRange(args, i + 1, Math.min(args.length, i + 4));
                    i = args.length;
                } else if (args[i].equals("--every-ms") && i + 1 < args.length) {
                    r.everyMs = Long.parseLong(args[++i]);
                } else if (args[i].equals("--count") && i + 1 < args.length) {
                    r.count = Integer.parseInt(args[++i]);
                } else {
                    throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
            return r;
        }
    }

    static void run(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: JvmProbe HOST:PORT [--every-ms N --count N | --invoke NAME OP [ARG]] | --serve");
            System.exit(2);
        }
        String[] credentials = new BufferedReader(new InputStreamReader(System.in))
            .readLine().trim().split("\\s+", 2);
        Request r = Request.parse(args);
        // The agent's RMI stub names the host by java.rmi.server.hostname (by default the
        // machine's name, often 127.0.0.1), not the loopback address the agent is bound
        // to: send every RMI connection to the address we were given.
        RMISocketFactory.setSocketFactory(new RMISocketFactory() {
            public Socket createSocket(String ignored, int port) throws IOException {
                return new Socket(r.host, port);
            }

            public ServerSocket createServerSocket(int port) throws IOException {
                throw new IOException("JvmProbe exports nothing");
            }
        });
        if (r.agentPid != null) startAgent(r.agentPid, r.host, r.port, r.agentDir);
        try (JMXConnector connector = connect(r.target, credentials)) {
            MBeanServerConnection mbs = connector.getMBeanServerConnection();
            if (r.invoke != null) {
                System.out.println(json(invoke(mbs, r.invoke)));
                return;
            }
            if (r.gcRun) diagnostic(mbs, "gcRun");
            for (int n = 0; n < r.count; n++) {
                long began = System.currentTimeMillis();
                Map<String, Object> reading = read(mbs);
                if (r.vmFlags && n == 0) reading.put("vm_flags", vmFlags(mbs));
                System.out.println(json(reading));
                System.out.flush();
                if (n + 1 < r.count && r.everyMs > 0) {
                    Thread.sleep(Math.max(0, r.everyMs - (System.currentTimeMillis() - began)));
                }
            }
        }
    }

    static JMXConnector connect(String target, String[] credentials) throws IOException {
        Map<String, Object> env = new HashMap<>();
        env.put(JMXConnector.CREDENTIALS, credentials);
        JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://" + target + "/jmxrmi");
        return JMXConnectorFactory.connect(url, env);
    }

    // ------------------------------------------------------------------ --serve

    static final class Connection {
        final String credentials;
        final JMXConnector connector;

        Connection(String credentials, JMXConnector connector) {
            this.credentials = credentials;
            this.connector = connector;
        }
    }

    static final Map<String, Connection> CONNECTIONS = new ConcurrentHashMap<>();
    static final Map<String, Object> TARGET_LOCKS = new ConcurrentHashMap<>();
    static final Set<String> NODE_HOSTS = ConcurrentHashMap.newKeySet();
    static final int CONNECT_TIMEOUT_MS = 5000;

    static void serve() throws Exception {
        RMISocketFactory.setSocketFactory(new RMISocketFactory() {
            public Socket createSocket(String host, int port) throws IOException {
                if (!NODE_HOSTS.contains(host)) {
                    throw new IOException("an RMI stub names " + host + ", not a node asked"
                        + " for: start the node with -Djava.rmi.server.hostname=ITS_ADDRESS");
                }
                Socket socket = new Socket();
                socket.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
                return socket;
            }

            public ServerSocket createServerSocket(int port) throws IOException {
                throw new IOException("JvmProbe exports nothing");
            }
        });
        ExecutorService workers = Executors.newCachedThreadPool(task -> {
            Thread thread = new Thread(task, "request");
            thread.setDaemon(true);
            return thread;
        });
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] fields = line.split("\t", -1);  // an empty last field is an argument too
            if (fields.length >= 3) workers.execute(() -> answer(fields));
        }
        // The harness is done with us (or gone): answer what was asked, then end.
        workers.shutdown();
        workers.awaitTermination(60, TimeUnit.SECONDS);
        System.exit(0);
    }

    static void answer(String[] fields) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", fields[0]);
        try {
            Request r = Request.parse(Arrays.copyOfRange(fields, 2, fields.length));
            out.put("reply", served(fields[1].trim(), r));
        } catch (Exception e) {
            out.put("error", describe(e));
        }
        String text = json(out);
        synchronized (System.out) {
            System.out.println(text);
            System.out.flush();
        }
    }

    // One node's requests one at a time, over a connection kept for the next.
    static Object served(String credentials, Request r) throws Exception {
        NODE_HOSTS.add(r.host);
        synchronized (TARGET_LOCKS.computeIfAbsent(r.target, t -> new Object())) {
            if (r.stopAgentPid != null) {
                forget(r.target);
                return stopAgent(r.stopAgentPid);
            }
            if (r.agentPid != null) {
                startAgent(r.agentPid, r.host, r.port, r.agentDir);
                forget(r.target);  // a new process: its old connection is dead
            }
            for (int attempt = 0; ; attempt++) {
                Connection c = CONNECTIONS.get(r.target);
                if (c == null || !c.credentials.equals(credentials)) {
                    forget(r.target);
                    c = new Connection(credentials, connect(r.target, credentials.split("\\s+", 2)));
                    CONNECTIONS.put(r.target, c);
                }
                try {
                    MBeanServerConnection mbs = c.connector.getMBeanServerConnection();
                    if (r.invoke != null) return invoke(mbs, r.invoke);
                    if (r.gcRun) diagnostic(mbs, "gcRun");
                    Map<String, Object> reading = read(mbs);
                    if (r.vmFlags) reading.put("vm_flags", vmFlags(mbs));
                    return reading;
                } catch (IOException e) {
                    forget(r.target);  // the node was restarted: connect again, once
                    if (attempt > 0) throw e;
                }
            }
        }
    }

    static void forget(String target) {
        Connection c = CONNECTIONS.remove(target);
        if (c == null) return;
        try {
            c.connector.close();
        } catch (IOException | RuntimeException e) {
            // The node is gone already; nothing to close.
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

    static Map<String, Object> stopAgent(String pid) throws Exception {
        VirtualMachine vm = VirtualMachine.attach(pid);
        try {
            // HotSpotVirtualMachine.executeJCmd, by reflection: `java JvmProbe.java` on a
            // node compiles without the export, and only the lab's server stops agents.
            Method jcmd = Class.forName("sun.tools.attach.HotSpotVirtualMachine")
                .getMethod("executeJCmd", String.class);
            try (InputStream reply = (InputStream) jcmd.invoke(vm, "ManagementAgent.stop")) {
                reply.readAllBytes();
            }
        } finally {
            vm.detach();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("agent", "stopped");
        return out;
    }

    static String vmFlags(MBeanServerConnection mbs) throws Exception {
        return diagnostic(mbs, "vmFlags");
    }

    // A jcmd command (vmFlags: VM.flags, gcRun: GC.run) without arguments, and its text.
    static String diagnostic(MBeanServerConnection mbs, String command) throws Exception {
        return String.valueOf(mbs.invoke(
            new ObjectName("com.sun.management:type=DiagnosticCommand"), command,
            new Object[] {new String[0]}, new String[] {String[].class.getName()}));
    }

    // invoke = OBJECTNAME OP [ARG]
    static Map<String, Object> invoke(MBeanServerConnection mbs, String[] invoke) throws Exception {
        ObjectName name = new ObjectName(invoke[0]);
        Object[] params = invoke.length > 2 ? new Object[] {invoke[2]} : new Object[0];
        String[] signature = invoke.length > 2 ? new String[] {"java.lang.String"} : new String[0];
        Object result = mbs.invoke(name, invoke[1], params, signature);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("invoked", invoke[1]);
        out.put("on", invoke[0]);
        out.put("result", result == null ? null : String.valueOf(result));
        return out;
    }

    static Map<String, Object> read(MBeanServerConnection mbs) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("t_ms", System.currentTimeMillis());
        out.put("executors", beans(mbs, "Catalina:type=Executor,*", EXECUTOR));
        out.put("thread_pools", beans(mbs, "Catalina:type=ThreadPool,*", THREAD_POOL));
        out.put("connectors", beans(mbs, "Catalina:type=Connector,*", CONNECTOR));
        out.put("requests", beans(mbs, "Catalina:type=GlobalRequestProcessor,*", REQUESTS));
        out.put("contexts", contexts(mbs));
        out.put("engines", beans(mbs, "Catalina:type=Engine", ENGINE));
        out.put("hosts", beans(mbs, "Catalina:type=Host,*", HOST));
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
