// A Tomcat listener for the embedded lab's nodes: once the server has started, the node
// reads its own MBeans (JvmProbe.read, with its VM flags in the first reading) and writes
// them as JSON lines, one every everyMs, to FOLDER/PID.jsonl until the server stops.
// Used by harness.cluster.readings.py; server.xml names it:
//
//   <Listener className="NodeReadings" folder="..." everyMs="1000" />
//
// Why: the same readings over JMX needed an agent started in the node by attach (0.3 s of
// the node's CPU) and a reader JVM beside it (0.5 s more), all on the critical path of a
// bench on a 2-core machine before its load. Read in the node, a reading costs
// milliseconds, no port is opened, and a paused node writes nothing: its gap is the signal.
// A file per process: a node restarted by a fault starts a file of its own, whose first line
// holds that JVM's flags.

import java.io.FileOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.management.MBeanServer;
import org.apache.catalina.Lifecycle;
import org.apache.catalina.LifecycleEvent;
import org.apache.catalina.LifecycleListener;

public class NodeReadings implements LifecycleListener {
    private String folder;
    private long everyMs = 1000;
    private Thread writer;

    // Set by Tomcat from server.xml's attributes.
    public void setFolder(String folder) {
        this.folder = folder;
    }

    public void setEveryMs(long everyMs) {
        this.everyMs = Math.max(everyMs, 10);
    }

    @Override
    public void lifecycleEvent(LifecycleEvent event) {
        if (Lifecycle.AFTER_START_EVENT.equals(event.getType())) {
            start();
        } else if (Lifecycle.BEFORE_STOP_EVENT.equals(event.getType())) {
            stop();
        }
    }

    private synchronized void start() {
        if (folder == null || writer != null) return;
        writer = new Thread(this::write, "tomcat-bench-readings");
        writer.setDaemon(true);
        writer.start();
    }

    private synchronized void stop() {
        if (writer != null) writer.interrupt();
        writer = null;
    }

    private synchronized boolean running() {
        return writer == Thread.currentThread();
    }

    private void write() {
        MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
        long pid = ProcessHandle.current().pid();
        Path file = Paths.get(folder, pid + ".jsonl");
        try {
            Files.createDirectories(file.getParent());
        } catch (IOException e) {
            System.err.println("NodeReadings: " + file.getParent() + ": " + e);
            return;
        }
        // Appended whole lines: a reader takes only up to the last newline.
        try (FileOutputStream out = new FileOutputStream(file.toFile(), true)) {
            boolean first = true;
            while (running()) {
                long began = System.nanoTime();
                Map<String, Object> reading = reading(mbs, pid, first);
                out.write((JvmProbe.json(reading) + "\n").getBytes(StandardCharsets.UTF_8));
                first = first && reading.containsKey("error");  // the flags, once read
                long tookMs = (System.nanoTime() - began) / 1_000_000;
                Thread.sleep(Math.max(1, everyMs - tookMs));
            }
        } catch (InterruptedException e) {
            // The server is stopping.
        } catch (IOException e) {
            System.err.println("NodeReadings: " + file + ": " + e);
        }
    }

    // One reading, or what kept it from being read (the next one tries again): an Error
    // too (an OutOfMemoryError in a heap study), or the readings would end silently.
    private static Map<String, Object> reading(MBeanServer mbs, long pid, boolean withFlags) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("pid", pid);
        try {
            out.putAll(JvmProbe.read(mbs));
            if (withFlags) out.put("vm_flags", JvmProbe.vmFlags(mbs));
        } catch (Throwable e) {
            out.clear();
            out.put("pid", pid);
            out.put("t_ms", System.currentTimeMillis());
            out.put("error", JvmProbe.describe(e));
        }
        return out;
    }
}
