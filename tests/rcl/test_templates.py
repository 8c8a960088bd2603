from faultwise.rcl.profile.templates import template_of


def test_variables_are_masked_and_lines_of_one_statement_share_a_template():
    a = template_of(
        "12:00:01.123 ERROR OrderService#42 order 1234 failed for user=alice id=3fa85f64-5717-4562-b3fc-2c963f66afa6"
    )
    b = template_of(
        "12:00:09.999 ERROR OrderService#42 order 98 failed for user=bob id=00000000-0000-0000-0000-000000000001"
    )
    assert a == b
    assert "1234" not in a and "alice" not in a


def test_different_statements_differ():
    assert template_of("INFO cache hit for key") != template_of("INFO cache miss for key")


def test_long_payload_tail_is_cut():
    t = template_of("INFO response " + " ".join(f"field{i}" for i in range(100)))
    assert len(t.split()) <= 10


def test_source_locations_are_kept_so_two_statements_with_one_text_differ():
    first = template_of("10:00:00.001 INFO c.s.TravelServiceImpl#366 [getTickets][Calculate distance] d: 12")
    later = template_of("10:00:00.002 INFO c.s.TravelServiceImpl#372 [getTickets][Calculate distance] d: 40")
    assert first != later and "#366" in first and "#372" in later
    assert "Main.java:88" in template_of("ERROR at Main.java:88 failed id=5")
    assert "views.py:42" in template_of("views.py:42 - user 17 logged in")
    # plain numbers after a colon are still variables
    assert template_of("INFO num is: 3") == template_of("INFO num is: 45")
