import pytest
from session_tracking import (
    DATA_LOST,
    ERROR,
    KEPT,
    NEW,
    REPLAYED,
    SESSION_LOST,
    ParallelTracker,
    Reply,
    ReplyReader,
    SessionTracker,
    base_session_id,
    check_scenario,
    fixed_reply,
    parallel_width,
    parse_parallel_reply,
    parse_reply,
    session_path,
)


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("F6E049C41B91EE4306744F0CCB2DD0B4", "F6E049C41B91EE4306744F0CCB2DD0B4"),
        ("F6E049C41B91EE4306744F0CCB2DD0B4.node2", "F6E049C41B91EE4306744F0CCB2DD0B4"),
        ("F6E049C41B91EE4306744F0CCB2DD0B4-memA.node1", "F6E049C41B91EE4306744F0CCB2DD0B4"),
    ],
)
def test_base_session_id_strips_route_and_memcached_node(raw: str, base: str) -> None:
    assert base_session_id(raw) == base


def test_parse_reply_reads_session_jsp_output() -> None:
    body = b'\n{"session":"ABC.node2","node":"node1","counter":7,"new":false}\n'
    assert parse_reply(body) == Reply("ABC", "node1", 7)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b'{"session":"ABC","node":"node1"}',
        b'{"session":"","node":"node1","counter":1}',
        b'{"session":"ABC","node":"node1","counter":"7"}',
        b'{"session":"ABC","node":"node1","counter":0}',
        b'{"session":"ABC","node":"node1","counter":true}',
        b"[1, 2]",
    ],
)
def test_parse_reply_rejects_what_is_not_a_session_reply(body: bytes) -> None:
    with pytest.raises(ValueError, match="session"):
        parse_reply(body)


def _run(replies: list[Reply | None]) -> list[str]:
    tracker = SessionTracker()
    return [tracker.observe(reply) for reply in replies]


def test_a_continued_counter_is_kept_across_nodes() -> None:
    replies = [Reply("S", f"node{1 + i % 2}", i + 1) for i in range(5)]
    assert _run(replies) == [NEW, KEPT, KEPT, KEPT, KEPT]


def test_a_new_session_id_is_a_lost_session_and_becomes_the_reference() -> None:
    replies = [Reply("S", "node1", 1), Reply("S", "node1", 2), Reply("T", "node2", 1)]
    replies.append(Reply("T", "node2", 2))
    assert _run(replies) == [NEW, KEPT, SESSION_LOST, KEPT]


def test_a_counter_that_goes_back_is_lost_data() -> None:
    replies = [Reply("S", "n", 1), Reply("S", "n", 2), Reply("S", "n", 3), Reply("S", "n", 2)]
    assert _run(replies) == [NEW, KEPT, KEPT, DATA_LOST]


def test_a_repeated_counter_is_lost_data() -> None:
    assert _run([Reply("S", "n", 1), Reply("S", "n", 1)]) == [NEW, DATA_LOST]


def test_a_counter_that_skips_without_an_error_is_a_replayed_request() -> None:
    assert _run([Reply("S", "n", 1), Reply("S", "n", 3)]) == [NEW, REPLAYED]


def test_after_errors_the_failed_requests_may_have_counted() -> None:
    # Two failed requests may both have run: 2, 3 or 4 are all consistent.
    for counter, expected in ((2, KEPT), (3, KEPT), (4, KEPT), (5, REPLAYED), (1, DATA_LOST)):
        outcomes = _run([Reply("S", "n", 1), None, None, Reply("S", "n", counter)])
        assert outcomes == [NEW, ERROR, ERROR, expected], counter


def test_errors_are_forgotten_after_a_good_reply() -> None:
    outcomes = _run([Reply("S", "n", 1), None, Reply("S", "n", 2), Reply("S", "n", 4)])
    assert outcomes == [NEW, ERROR, KEPT, REPLAYED]


def test_the_fast_path_and_the_json_path_read_replies_alike() -> None:
    fixed = b'{"session":"AB12-memA.node2","node":"node2","counter":41,"new":false}\n'
    spaced = b'{"session": "AB12-memA.node2", "node": "node2", "counter": 41, "new": false}'
    assert parse_reply(fixed) == parse_reply(spaced) == Reply("AB12", "node2", 41)
    # session.jsp's real output: the newline after its scriptlet comes first.
    real = b'\n{"session":"AB12.node1","node":"node1","counter":7,"new":false}\n'
    assert fixed_reply(real) == parse_reply(real) == Reply("AB12", "node1", 7)
    assert fixed_reply(spaced) is None  # other JSON takes the json.loads route
    # The fixed shape with a bad counter still fails the way the JSON route fails.
    with pytest.raises(ValueError, match="counter is not a positive integer"):
        parse_reply(b'{"session":"AB12.node2","node":"node2","counter":0,"new":false}')


@pytest.mark.parametrize(
    "session_id", ["AB12", "AB12.node1", "AB12-memA.node2", "a_b-c-d.e.f", ".node1", "-memA", "x."]
)
def test_the_fast_path_strips_the_id_as_base_session_id_does(session_id: str) -> None:
    body = f'{{"session":"{session_id}","node":"n","counter":3,"new":false}}'.encode()
    expected = Reply(base_session_id(session_id), "n", 3)
    assert fixed_reply(body) == expected
    assert parse_reply(body) == parse_reply(body.replace(b'":', b'": ')) == expected


def test_an_empty_session_id_is_no_reply_on_either_path() -> None:
    body = b'{"session":"","node":"n","counter":3,"new":false}'
    assert fixed_reply(body) is None
    with pytest.raises(ValueError, match=r"not a session\.jsp reply"):
        parse_reply(body)


def _body(session: str, node: str, counter: int | str, new: str = "false") -> bytes:
    return f'\n{{"session":"{session}","node":"{node}","counter":{counter},"new":{new}}}\n'.encode()


def test_a_reader_reads_each_reply_as_fixed_reply_does() -> None:
    bodies = [
        _body("S.node1", "node1", 1, "true"),
        _body("S.node1", "node1", 2),
        _body("S.node1", "node1", 3),
        _body("S.node1", "node1", 0),  # the remembered head, a bad counter
        _body("S.node1", "node1", "07"),
        _body("S.node1", "node1", "4,"),
        _body("S.node1", "node1", 5) + b"x",
        _body("S.node1", "node1", 10**18),  # 19 digits: past the pattern
        _body("S.node1", "node1", 10**18 - 1),
        _body("S.node2", "node2", 6),  # failover: another id and node
        _body("S.node1", "node1", 7),
        _body("T.node1", "node1", 1, "true"),  # a new session
        b'{"session": "T", "node": "node1", "counter": 2, "new": false}',  # JSON route only
        _body("T.node1", "node1", 3)[:-3],  # cut short
        _body("T.node1", "node1", 3),
    ]
    reader = ReplyReader()
    assert [reader.read(b) for b in bodies] == [fixed_reply(b) for b in bodies]
    assert [fixed_reply(b) is None for b in bodies] == [
        False, False, False, True, True, True, True, True, False, False, False, False, True,
        True, False,
    ]  # fmt: skip


def test_a_read_only_page_keeps_its_counter_and_a_lost_one_reads_zero() -> None:
    """readonly: the counter is set once and only read after, so it stays put; a reply
    of the same session without it (0) lost the data; one of another session lost that."""
    tracker = SessionTracker("readonly")
    replies = [Reply("A", "n1", 1), Reply("A", "n2", 1), None, Reply("A", "n1", 1),
               Reply("A", "n1", 0), Reply("B", "n2", 1), Reply("B", "n2", 1)]  # fmt: skip
    outcomes = [tracker.observe(r) for r in replies]
    assert outcomes == [NEW, KEPT, ERROR, KEPT, DATA_LOST, SESSION_LOST, KEPT]
    # The counter scenarios move by one a request, as they always did.
    moving = SessionTracker("inplace")
    assert [moving.observe(Reply("A", "n1", c)) for c in (1, 2, 2)] == [NEW, KEPT, DATA_LOST]


def test_the_page_is_asked_for_its_scenario_and_payload_only_when_not_the_default() -> None:
    assert session_path("counter", 0) == "/session.jsp"
    assert session_path("inplace", 0) == "/session.jsp?scenario=inplace"
    assert session_path("growing", 512) == "/session.jsp?scenario=growing&size=512"
    assert session_path("counter", 512) == "/session.jsp?size=512"


def _round(tracker: ParallelTracker, held: dict[int, set[int]], session: str = "S") -> list:
    """One round whose replies come in id order; held: what each id's reply lists."""
    seen = []
    for request_id in tracker.round_ids():
        reply = Reply(session, "node1", request_id) if request_id in held else None
        base = request_id - 255
        bits = sum(1 << (i - base) for i in held.get(request_id, ()) if i >= base)
        seen.append(tracker.observe(reply, bits))
    tracker.end_round()
    return seen


def test_parallel_rounds_count_each_lost_update_exactly_once() -> None:
    tracker = ParallelTracker(3)
    assert _round(tracker, {1: {1}}) == [(NEW, 0)]  # one request until there is a session
    # Siblings race: 3's reply lacks 2 and 4, which is no loss (same round).
    assert _round(tracker, {2: {1, 2}, 3: {1, 3}, 4: {1, 2, 4}}) == [(KEPT, 0)] * 3
    # 3 was acknowledged last round, and this round's first reply lacks it: 1 lost.
    # The next reply lacks 3 too, counted already, and 2: 1 more. 7 holds them all.
    assert _round(tracker, {5: {1, 2, 4, 5}, 6: {1, 4, 5, 6}, 7: {1, 2, 3, 4, 5, 6, 7}}) == [
        (DATA_LOST, 1),
        (DATA_LOST, 1),
        (KEPT, 0),
    ]
    assert tracker.lost == 2


def test_parallel_errors_are_not_acknowledged_and_a_new_session_starts_afresh() -> None:
    tracker = ParallelTracker(2)
    _round(tracker, {1: {1}})
    # 3 failed: it may or may not have run; neither is a loss.
    assert _round(tracker, {2: {1, 2}}) == [(KEPT, 0), (ERROR, 0)]
    assert _round(tracker, {4: {1, 2, 4}, 5: {1, 2, 5}}) == [(KEPT, 0), (KEPT, 0)]
    # The session is gone: a new one, not a lost update; its ids alone count after.
    assert _round(tracker, {6: {6}, 7: {6, 7}}, session="T") == [
        (SESSION_LOST, 0),
        (SESSION_LOST, 0),
    ]
    assert _round(tracker, {8: {6, 7, 8}, 9: {7, 9}}, session="T") == [(KEPT, 0), (DATA_LOST, 1)]


def test_parallel_checks_only_ids_the_page_still_keeps() -> None:
    tracker = ParallelTracker(2)
    _round(tracker, {1: {1}})
    tracker.next_id = 400  # far ahead: 1 is below what the page keeps (256 below an id)
    tracker.end_round()  # a round of errors only: nothing acknowledged, 1 dropped all the same
    assert _round(tracker, {400: {400}, 401: {400, 401}}) == [(KEPT, 0), (KEPT, 0)]


def test_a_parallel_reply_lists_the_ids_its_session_holds() -> None:
    # Bit i stands for id 7 - 255 + i: ids 3, 5 and 7 are bits 251, 253 and 255.
    bits = (1 << 251) | (1 << 253) | (1 << 255)
    body = b'\n{"session":"AB.node1","node":"node1","counter":7,"held":"%x","new":false}' % bits
    assert parse_parallel_reply(body) == (Reply("AB", "node1", 7), bits, True)
    # Another shape of the same JSON takes the slow route; its fields may need quoting.
    spaced = b'{"session": "AB", "node": "n,1", "counter": 7, "held": "a0", "new": false}'
    assert parse_parallel_reply(spaced) == (Reply("AB", "n,1", 7), 0xA0, False)
    with pytest.raises(ValueError, match="not a parallel"):
        parse_parallel_reply(b'{"session":"AB","node":"n","counter":7,"new":false}')
    with pytest.raises(ValueError, match="not a parallel"):
        parse_parallel_reply(b'{"session":"AB","node":"n","counter":7,"held":"xyz","new":false}')


@pytest.mark.parametrize("scenario", ["parallel", "parallel:1", "parallel:17", "parallel:x", "x"])
def test_a_scenario_that_is_none_is_refused_naming_the_choices(scenario: str) -> None:
    with pytest.raises(ValueError, match=r"parallel:N \(N from 2 to 16\)"):
        check_scenario(scenario)


def test_parallel_scenarios_ask_for_the_parallel_page() -> None:
    assert parallel_width("parallel:4") == 4
    assert parallel_width("inplace") == 1
    assert session_path("parallel:4", 0) == "/session.jsp?scenario=parallel"
    assert session_path("parallel:4", 100) == "/session.jsp?scenario=parallel&size=100"
