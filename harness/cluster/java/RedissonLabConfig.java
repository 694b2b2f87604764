// A Tomcat listener for the embedded lab's nodes that use Redis: hands Redisson's own
// session manager its Config, built with Redisson's Java API, before the manager starts.
// Used by harness.cluster.lab.redisson_config.py; conf/context.xml names it beside the
// manager:
//
//   <Manager className="org.redisson.tomcat.RedissonSessionManager" readMode=... />
//   <Listener className="RedissonLabConfig" address="redis://..." password="..." />
//
// Why: the manager's configPath makes it read a YAML file with Jackson, whose first use in
// a JVM costs about 0.3 s of CPU (its introspection of Redisson's config classes, and the
// JIT of that code), on a 2-core machine whose cores are busy starting both nodes. The
// manager takes a Config through its public setConfig, and uses it instead of configPath:
// the same settings, the same manager, the same sessions; only the way the settings are
// read changes. A stock install (the SSH testbed's nodes) keeps the YAML file.

import org.apache.catalina.Context;
import org.apache.catalina.Lifecycle;
import org.apache.catalina.LifecycleEvent;
import org.apache.catalina.LifecycleListener;
import org.apache.catalina.Manager;
import org.redisson.config.Config;
import org.redisson.config.ReadMode;
import org.redisson.tomcat.RedissonSessionManager;

public class RedissonLabConfig implements LifecycleListener {
    // Every value comes from context.xml (redisson_config.py's POOL, the one place they
    // are written; the YAML file of a stock node takes them from there too).
    private String address;
    private String password;
    private String masterName;
    private int minimumIdle;
    private int poolSize;
    private int timeoutMs;
    private int retryAttempts;
    private int threads;
    private int nettyThreads;

    // Set by Tomcat from context.xml's attributes. With masterName, address is Sentinel's.
    public void setAddress(String address) {
        this.address = address;
    }

    public void setPassword(String password) {
        this.password = password;
    }

    public void setMasterName(String masterName) {
        this.masterName = masterName;
    }

    public void setMinimumIdle(int minimumIdle) {
        this.minimumIdle = minimumIdle;
    }

    public void setPoolSize(int poolSize) {
        this.poolSize = poolSize;
    }

    public void setTimeoutMs(int timeoutMs) {
        this.timeoutMs = timeoutMs;
    }

    public void setRetryAttempts(int retryAttempts) {
        this.retryAttempts = retryAttempts;
    }

    public void setThreads(int threads) {
        this.threads = threads;
    }

    public void setNettyThreads(int nettyThreads) {
        this.nettyThreads = nettyThreads;
    }

    @Override
    public void lifecycleEvent(LifecycleEvent event) {
        // CONFIGURE_START comes before the context starts its manager.
        if (!Lifecycle.CONFIGURE_START_EVENT.equals(event.getType())) return;
        Manager manager = ((Context) event.getLifecycle()).getManager();
        if (!(manager instanceof RedissonSessionManager)) {
            // A node that would start with no sessions in Redis must not start.
            throw new IllegalStateException(
                    "RedissonLabConfig: the context's manager is " + manager
                            + ", not org.redisson.tomcat.RedissonSessionManager");
        }
        ((RedissonSessionManager) manager).setConfig(config());
    }

    private Config config() {
        if (address == null || poolSize < 1 || threads < 1 || nettyThreads < 1) {
            throw new IllegalStateException(
                    "RedissonLabConfig: address, poolSize, threads and nettyThreads are required");
        }
        Config config = new Config();
        config.setThreads(threads);
        config.setNettyThreads(nettyThreads);
        if (masterName == null) {
            config.useSingleServer()
                    .setAddress(address)
                    .setPassword(password)
                    .setConnectionMinimumIdleSize(minimumIdle)
                    .setConnectionPoolSize(poolSize)
                    .setTimeout(timeoutMs)
                    .setRetryAttempts(retryAttempts);
        } else {
            config.useSentinelServers()
                    .setMasterName(masterName)
                    .addSentinelAddress(address)
                    .setPassword(password)
                    .setSentinelPassword(password)
                    // One Sentinel in the lab: Redisson refuses fewer than two unless told.
                    .setCheckSentinelsList(false)
                    // Sessions are read from the master: Redisson's default (SLAVE) would
                    // read the replica, which lags behind the previous request's write.
                    .setReadMode(ReadMode.MASTER)
                    .setMasterConnectionMinimumIdleSize(minimumIdle)
                    .setMasterConnectionPoolSize(poolSize)
                    .setTimeout(timeoutMs)
                    .setRetryAttempts(retryAttempts);
        }
        return config;
    }
}
