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
  ?scenario= how the page treats its session, as real applications do (the counter's
  expected course is the same unless said):
    counter   (default) an Integer, written back with setAttribute on every request
    inplace   an int[1] changed in place; setAttribute only when the session is
              new or the request asks (&set=1): a manager that saves only what was set
              loses the change
    growing   the counter, and a "cart" list that gains 2 KB of random bytes a request
              up to 64 KB, set again each time, as a shopping cart grows
    readonly  the counter is set once, when the session is new, and only read after:
              it stays 1 (0 when the session exists but lost it)
    parallel  &id=K (a positive number, unique per request of the session): the session
              holds a set of request ids; the page reads it, adds K, drops ids below
              K - 256 and sets a new copy, as a page whose several XHRs each record
              something. The reply's "counter" is K and "held" the set it wrote, as a
              bitmap in hex: bit i stands for id K - 255 + i. An id the client had
              acknowledged and a later reply lacks is a lost update.
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
    String scenario = request.getParameter("scenario");
    int counter;
    String heldBits = null;  // the parallel scenario's set as written, a bitmap in hex
    if (scenario == null || scenario.equals("counter") || scenario.equals("growing")) {
        Integer previous = (Integer) session.getAttribute("counter");
        counter = previous == null ? 1 : previous + 1;
        session.setAttribute("counter", Integer.valueOf(counter));
        if ("growing".equals(scenario)) {
            @SuppressWarnings("unchecked")
            java.util.ArrayList<byte[]> cart = (java.util.ArrayList<byte[]>) session.getAttribute("cart");
            if (cart == null) {
                cart = new java.util.ArrayList<byte[]>();
            }
            if (cart.size() < 32) {  // 32 x 2 KB: the 64 KB cap
                byte[] item = new byte[2048];
                java.util.concurrent.ThreadLocalRandom.current().nextBytes(item);
                cart.add(item);
            }
            session.setAttribute("cart", cart);
        }
    } else if (scenario.equals("inplace")) {
        // An int[1], not an AtomicInteger: Redisson's default codec (Kryo) cannot read an
        // AtomicInteger's private field on Java 17 and fails every request with a 500.
        int[] box = (int[]) session.getAttribute("box");
        if (box == null) {
            box = new int[] {1};
            session.setAttribute("box", box);
        } else {
            box[0]++;
            if ("1".equals(request.getParameter("set"))) {
                session.setAttribute("box", box);
            }
        }
        counter = box[0];
    } else if (scenario.equals("parallel")) {
        try {
            counter = Integer.parseInt(String.valueOf(request.getParameter("id")));
        } catch (NumberFormatException e) {
            counter = 0;
        }
        if (counter < 1) {
            response.sendError(400, "id: a positive request number");
            return;
        }
        // Within one node, requests of a session share its object: the lock keeps this
        // page exact there, so an id lost is the store's doing, not the page's.
        synchronized (session) {
            @SuppressWarnings("unchecked")
            java.util.TreeSet<Integer> held = (java.util.TreeSet<Integer>) session.getAttribute("ids");
            java.util.TreeSet<Integer> ids = held == null
                ? new java.util.TreeSet<Integer>()
                : new java.util.TreeSet<Integer>(held.tailSet(Integer.valueOf(counter - 256)));
            ids.add(Integer.valueOf(counter));
            session.setAttribute("ids", ids);
            // A bitmap, not a list: 64 hex digits whatever the set holds, so the reply
            // and the client's check cost about what the counter's do.
            java.math.BigInteger bits = java.math.BigInteger.ZERO;
            for (Integer id : ids.tailSet(Integer.valueOf(counter - 255))) {
                bits = bits.setBit(id - (counter - 255));
            }
            heldBits = bits.toString(16);
        }
    } else if (scenario.equals("readonly")) {
        Integer stored = (Integer) session.getAttribute("counter");
        if (stored == null && session.isNew()) {
            stored = Integer.valueOf(1);
            session.setAttribute("counter", stored);
        }
        counter = stored == null ? 0 : stored.intValue();
    } else {
        response.sendError(400, "scenario: counter, inplace, growing, readonly or parallel");
        return;
    }
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
{"session":"<%= session.getId() %>","node":"<%= node %>","counter":<%= counter %><%= heldBits == null ? "" : ",\"held\":\"" + heldBits + "\"" %>,"new":<%= session.isNew() %>}
