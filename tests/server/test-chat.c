/* test-chat.c: the chat events of DESIGN.md end to end: raw Socket.IO
 * clients against an in-process NatterServer on loopback. */
#include <signal.h>
#include <sys/resource.h>

#include "natter-protocol.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

typedef struct
{
  NatterTestServer *ts;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  f->ts = natter_test_server_new ();
  natter_test_server_start (f->ts);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  natter_test_server_free (f->ts);
}

static NatterTestClient *
connect_user (Fixture    *f,
              const char *user,
              char      **out_token)
{
  g_autofree char *token = natter_test_register (f->ts->url, user);
  NatterTestClient *client = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;

  natter_test_client_connect (client, token, &error);
  g_assert_no_error (error);
  if (out_token != NULL)
    *out_token = g_steal_pointer (&token);
  return client;
}

static NatterTestClient *
connect_token (Fixture    *f,
               const char *token)
{
  NatterTestClient *client = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;

  natter_test_client_connect (client, token, &error);
  g_assert_no_error (error);
  return client;
}

static void
assert_ok (JsonObject *ack)
{
  g_assert_nonnull (ack);
  if (!json_object_get_boolean_member_with_default (ack, "ok", FALSE))
    g_error ("expected ok, got error %s: %s",
             json_object_get_string_member_with_default (ack, "error", "?"),
             json_object_get_string_member_with_default (ack, "message", "?"));
}

static void
assert_error (JsonObject *ack,
              const char *code)
{
  g_assert_nonnull (ack);
  g_assert_false (json_object_get_boolean_member_with_default (ack, "ok", TRUE));
  g_assert_cmpstr (json_object_get_string_member_with_default (ack, "error", ""), ==, code);
  g_assert_true (json_object_has_member (ack, "message"));
}

static JsonObject *
send_text (NatterTestClient *client,
           const char       *room,
           const char       *cid,
           const char       *text)
{
  g_autoptr(JsonObject) args = json_object_new ();

  json_object_set_string_member (args, "room", room);
  json_object_set_string_member (args, "cid", cid);
  json_object_set_string_member (args, "text", text);
  return natter_test_client_call (client, "send", args);
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_basic (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(JsonObject) joined = NULL;
  g_autoptr(JsonObject) joined2 = NULL;
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(JsonObject) rooms = NULL;
  JsonObject *member, *room, *msg_a, *msg_b;
  JsonArray *list;
  guint i;
  gboolean saw_general = FALSE, saw_tea = FALSE;

  g_assert_nonnull (natter_test_client_get_sid (alice));

  joined = natter_test_client_call_json (alice, "join",
                                         "{\"room\":\"tea\",\"create\":true,\"topic\":\"Oolong 乌龙\"}");
  assert_ok (joined);
  room = json_object_get_object_member (joined, "room");
  g_assert_cmpstr (json_object_get_string_member (room, "name"), ==, "tea");
  g_assert_cmpstr (json_object_get_string_member (room, "topic"), ==, "Oolong 乌龙");
  g_assert_cmpint (json_object_get_int_member (room, "last_seq"), ==, 0);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (room, "members")), ==, 1);

  joined2 = natter_test_client_call_json (bob, "join", "{\"room\":\"tea\"}");
  assert_ok (joined2);
  list = json_object_get_array_member (json_object_get_object_member (joined2, "room"), "members");
  g_assert_cmpuint (json_array_get_length (list), ==, 2);

  /* Members hear every join, their own included. */
  member = natter_test_client_wait_event (alice, "member", 0);
  g_assert_nonnull (member);
  g_assert_cmpstr (json_object_get_string_member (member, "user"), ==, "alice");
  member = natter_test_client_wait_event (alice, "member", 1);
  g_assert_nonnull (member);
  g_assert_cmpstr (json_object_get_string_member (member, "user"), ==, "bob");
  g_assert_cmpstr (json_object_get_string_member (member, "action"), ==, "join");
  g_assert_cmpstr (json_object_get_string_member (member, "room"), ==, "tea");

  ack = send_text (alice, "tea", "c-1", "你好, bob");
  assert_ok (ack);
  g_assert_cmpint (json_object_get_int_member (ack, "seq"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (ack, "cid"), ==, "c-1");
  g_assert_cmpint (json_object_get_int_member (ack, "ts"), >, 1600000000000);

  msg_a = natter_test_client_wait_event (alice, "message", 0);
  msg_b = natter_test_client_wait_event (bob, "message", 0);
  g_assert_nonnull (msg_a);
  g_assert_nonnull (msg_b);
  for (i = 0; i < 2; i++)
    {
      JsonObject *m = i == 0 ? msg_a : msg_b;

      g_assert_cmpstr (json_object_get_string_member (m, "room"), ==, "tea");
      g_assert_cmpstr (json_object_get_string_member (m, "from"), ==, "alice");
      g_assert_cmpstr (json_object_get_string_member (m, "text"), ==, "你好, bob");
      g_assert_cmpstr (json_object_get_string_member (m, "cid"), ==, "c-1");
      g_assert_cmpint (json_object_get_int_member (m, "seq"), ==, 1);
      g_assert_cmpint (json_object_get_int_member (m, "ts"), ==, json_object_get_int_member (ack, "ts"));
    }

  rooms = natter_test_client_call_json (bob, "rooms", "{}");
  assert_ok (rooms);
  list = json_object_get_array_member (rooms, "rooms");
  for (i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *r = json_array_get_object_element (list, i);
      const char *name = json_object_get_string_member (r, "name");

      if (g_str_equal (name, "general"))
        {
          saw_general = TRUE;
          g_assert_true (json_object_get_boolean_member (r, "joined")); /* joined on register */
        }
      if (g_str_equal (name, "tea"))
        {
          saw_tea = TRUE;
          g_assert_cmpint (json_object_get_int_member (r, "members"), ==, 2);
          g_assert_cmpint (json_object_get_int_member (r, "last_seq"), ==, 1);
          g_assert_true (json_object_get_boolean_member (r, "joined"));
        }
    }
  g_assert_true (saw_general);
  g_assert_true (saw_tea);
}

static void
test_history (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(JsonObject) page = NULL;
  JsonArray *messages;
  guint i;

  for (i = 1; i <= 25; i++)
    {
      g_autofree char *cid = g_strdup_printf ("cid-%u", i);
      g_autofree char *text = g_strdup_printf ("message %u", i);
      g_autoptr(JsonObject) ack = send_text (alice, "general", cid, text);

      assert_ok (ack);
      g_assert_cmpint (json_object_get_int_member (ack, "seq"), ==, i);
    }

#define CHECK_PAGE(args, first, last, more_expected)                                   \
  G_STMT_START {                                                                       \
    g_clear_pointer (&page, json_object_unref);                                         \
    page = natter_test_client_call_json (alice, "history", args);                       \
    assert_ok (page);                                                                   \
    messages = json_object_get_array_member (page, "messages");                         \
    g_assert_cmpuint (json_array_get_length (messages), ==, (last) >= (first) ? (last) - (first) + 1 : 0); \
    for (i = 0; i < json_array_get_length (messages); i++)                             \
      g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (messages, i), "seq"), \
                       ==, (first) + i);                                                \
    g_assert_cmpint (json_object_get_boolean_member (page, "more"), ==, more_expected); \
  } G_STMT_END

  CHECK_PAGE ("{\"room\":\"general\",\"limit\":10}", 16, 25, TRUE);
  CHECK_PAGE ("{\"room\":\"general\",\"before\":16,\"limit\":10}", 6, 15, TRUE);
  CHECK_PAGE ("{\"room\":\"general\",\"before\":6,\"limit\":10}", 1, 5, FALSE);
  CHECK_PAGE ("{\"room\":\"general\",\"after\":20,\"limit\":3}", 21, 23, TRUE);
  CHECK_PAGE ("{\"room\":\"general\",\"after\":23,\"limit\":3}", 24, 25, FALSE);
  CHECK_PAGE ("{\"room\":\"general\",\"after\":25}", 1, 0, FALSE);
  CHECK_PAGE ("{\"room\":\"general\",\"after\":5,\"before\":9}", 6, 8, FALSE);
  CHECK_PAGE ("{\"room\":\"general\"}", 1, 25, FALSE);
  CHECK_PAGE ("{\"room\":\"general\",\"limit\":100000}", 1, 25, FALSE);

  messages = json_object_get_array_member (page, "messages");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 24), "text"),
                   ==, "message 25");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 24), "from"),
                   ==, "alice");

  g_clear_pointer (&page, json_object_unref);
  page = natter_test_client_call_json (alice, "history", "{\"room\":\"general\",\"before\":\"x\"}");
  assert_error (page, "bad_request");
  g_clear_pointer (&page, json_object_unref);
  page = natter_test_client_call_json (alice, "history", "{\"room\":\"general\",\"limit\":0}");
  assert_error (page, "bad_request");
#undef CHECK_PAGE
}

static void
test_dedupe (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(JsonObject) first = send_text (alice, "general", "same-cid", "once");
  g_autoptr(JsonObject) again = NULL;
  g_autoptr(JsonObject) other = NULL;
  g_autoptr(JsonObject) bob_same = NULL;

  assert_ok (first);
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 0));

  again = send_text (alice, "general", "same-cid", "twice?");
  assert_ok (again);
  g_assert_cmpint (json_object_get_int_member (again, "seq"), ==, json_object_get_int_member (first, "seq"));
  g_assert_cmpint (json_object_get_int_member (again, "ts"), ==, json_object_get_int_member (first, "ts"));

  /* A later message arrives, and nothing came between: no second broadcast. */
  other = send_text (alice, "general", "next-cid", "next");
  assert_ok (other);
  g_assert_cmpint (json_object_get_int_member (other, "seq"), ==, json_object_get_int_member (first, "seq") + 1);
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 1));
  g_assert_cmpstr (json_object_get_string_member (natter_test_client_get_event (bob, "message", 1), "cid"),
                   ==, "next-cid");
  g_assert_cmpuint (natter_test_client_count_events (bob, "message"), ==, 2);

  /* The cid is unique per sender, not globally. */
  bob_same = send_text (bob, "general", "same-cid", "bob's own");
  assert_ok (bob_same);
  g_assert_cmpint (json_object_get_int_member (bob_same, "seq"), ==, json_object_get_int_member (other, "seq") + 1);
}

/* ---- group commit --------------------------------------------------------------- */

static guint64
read_metric (Fixture    *f,
             const char *name)
{
  g_autofree char *text = NULL;
  g_autofree char *needle = g_strdup_printf ("\n%s ", name);
  const char *line;
  guint status = 0;

  text = natter_test_http_get_text (f->ts->url, "/metrics", &status);
  g_assert_cmpuint (status, ==, 200);
  line = strstr (text, needle);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (needle), NULL, 10);
}

/* Writes the send events of @cids (ack ids 901, 902, …) back to back,
 * without waiting in between: the server reads them in one go, so they
 * share one group commit. */
static void
emit_sends (NatterTestClient  *client,
            const char        *room,
            const char *const *cids)
{
  guint i;

  for (i = 0; cids[i] != NULL; i++)
    {
      g_autofree char *frame = g_strdup_printf ("42%u[\"send\",{\"room\":\"%s\",\"cid\":\"%s\","
                                                "\"text\":\"text %u\"}]", 901 + i, room, cids[i], i);

      natter_test_client_send_text (client, frame);
    }
}

/* The ack of ack id @id, parsed (the frames are "43<id>[{…}]"). */
static JsonObject *
wait_raw_ack (NatterTestClient *client,
              guint             id)
{
  g_autofree char *prefix = g_strdup_printf ("43%u[", id);
  g_autoptr(JsonNode) node = NULL;
  int index = natter_test_client_wait_frame (client, prefix, 0);
  const char *frame;

  g_assert_cmpint (index, >=, 0);
  frame = g_ptr_array_index (natter_test_client_get_frames (client), index);
  node = json_from_string (frame + strlen (prefix) - 1, NULL);
  g_assert_nonnull (node);
  return json_object_ref (json_array_get_object_element (json_node_get_array (node), 0));
}

static void
test_batch_dedupe (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  const char *cids[] = { "b-1", "b-2", "b-1", "b-3", "b-2", NULL };
  g_autoptr(JsonObject) history = NULL;
  JsonObject *acks[5];
  guint64 batches;
  guint i;

  batches = read_metric (f, "natter_send_batches_total");
  emit_sends (alice, "general", cids);
  for (i = 0; i < G_N_ELEMENTS (acks); i++)
    {
      acks[i] = wait_raw_ack (alice, 901 + i);
      assert_ok (acks[i]);
      g_assert_cmpstr (json_object_get_string_member (acks[i], "cid"), ==, cids[i]);
    }
  /* All five in one transaction … */
  g_assert_cmpuint (read_metric (f, "natter_send_batches_total"), ==, batches + 1);

  /* … and the repeats within it answer the first seq and ts. */
  g_assert_cmpint (json_object_get_int_member (acks[0], "seq"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (acks[1], "seq"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (acks[3], "seq"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (acks[2], "seq"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (acks[2], "ts"), ==,
                   json_object_get_int_member (acks[0], "ts"));
  g_assert_cmpint (json_object_get_int_member (acks[4], "seq"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (acks[4], "ts"), ==,
                   json_object_get_int_member (acks[1], "ts"));

  /* Three broadcasts, in seq order, and three rows. */
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 2));
  for (i = 0; i < 3; i++)
    g_assert_cmpint (json_object_get_int_member (natter_test_client_get_event (bob, "message", i), "seq"),
                     ==, i + 1);
  history = natter_test_client_call_json (bob, "history", "{\"room\":\"general\"}");
  assert_ok (history);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (history, "messages")), ==, 3);
  g_assert_cmpuint (natter_test_client_count_events (bob, "message"), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (natter_test_client_get_event (bob, "message", 0), "text"),
                   ==, "text 0");

  for (i = 0; i < G_N_ELEMENTS (acks); i++)
    json_object_unref (acks[i]);
}

static void
set_file_size_limit (rlim_t limit)
{
  struct rlimit rl;

  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &rl), ==, 0);
  rl.rlim_cur = limit;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
}

/* The disk fails while a batch is committed (RLIMIT_FSIZE 0 makes every
 * file write fail with EFBIG, as ENOSPC would; see tests/reliability's
 * disk-full test): every send of the batch is answered `internal`, none is
 * stored or broadcast, and afterwards seq goes on without a gap. Runs in a
 * child process, since the limit is the whole process's. */
static void
test_batch_disk_failure_child (void)
{
  Fixture fixture = { NULL, }, *f = &fixture;
  const char *before[] = { "d-1", "d-2", NULL };
  const char *during[] = { "d-3", "d-1", "d-4", NULL };
  g_autoptr(JsonObject) history = NULL;
  g_autoptr(JsonObject) again = NULL;
  guint64 batches;
  guint i;

  signal (SIGXFSZ, SIG_IGN);
  setup (f, NULL);
  {
    g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
    g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
    guint frames;

    emit_sends (alice, "general", before);
    for (i = 0; i < 2; i++)
      {
        g_autoptr(JsonObject) ack = wait_raw_ack (alice, 901 + i);

        assert_ok (ack);
      }
    g_assert_nonnull (natter_test_client_wait_event (bob, "message", 1));
    batches = read_metric (f, "natter_send_batches_total");

    /* The disk is full now. */
    frames = natter_test_client_get_frames (alice)->len;
    for (i = 0; i < 3; i++)
      g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, "send: general: cid d-* not stored (batch of 3)*");
    set_file_size_limit (0);
    emit_sends (alice, "general", during);
    for (i = 0; i < 3; i++)
      {
        g_autofree char *prefix = g_strdup_printf ("43%u[", 901 + i);
        g_autoptr(JsonNode) node = NULL;
        int index = natter_test_client_wait_frame (alice, prefix, frames);
        JsonObject *ack;

        g_assert_cmpint (index, >=, 0);
        node = json_from_string ((char *) g_ptr_array_index (natter_test_client_get_frames (alice), index)
                                 + strlen (prefix) - 1, NULL);
        ack = json_array_get_object_element (json_node_get_array (node), 0);
        assert_error (ack, "internal");
      }
    g_test_assert_expected_messages ();
    g_assert_cmpuint (read_metric (f, "natter_send_batches_total"), ==, batches + 1);

    /* Space returns: nothing of the failed batch was kept. */
    set_file_size_limit (RLIM_INFINITY);
    history = natter_test_client_call_json (bob, "history", "{\"room\":\"general\"}");
    assert_ok (history);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (history, "messages")), ==, 2);
    again = send_text (alice, "general", "d-3", "text 0");
    assert_ok (again);
    g_assert_cmpint (json_object_get_int_member (again, "seq"), ==, 3);
    g_assert_nonnull (natter_test_client_wait_event (bob, "message", 2));
    g_assert_cmpuint (natter_test_client_count_events (bob, "message"), ==, 3);
    g_assert_cmpstr (json_object_get_string_member (natter_test_client_get_event (bob, "message", 2), "cid"),
                     ==, "d-3");
  }
  teardown (f, NULL);
}

static void
test_batch_disk_failure (void)
{
  if (g_test_subprocess ())
    {
      test_batch_disk_failure_child ();
      return;
    }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_leave (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(JsonObject) sent = NULL;
  g_autoptr(JsonObject) rooms = NULL;
  JsonObject *event;
  JsonArray *list;
  guint i, bob_messages;

  ack = natter_test_client_call_json (bob, "leave", "{\"room\":\"general\"}");
  assert_ok (ack);
  event = natter_test_client_wait_event (alice, "member", 0);
  g_assert_nonnull (event);
  g_assert_cmpstr (json_object_get_string_member (event, "action"), ==, "leave");
  g_assert_cmpstr (json_object_get_string_member (event, "user"), ==, "bob");

  bob_messages = natter_test_client_count_events (bob, "message");
  sent = send_text (alice, "general", "after-leave", "bob is gone");
  assert_ok (sent);
  g_assert_nonnull (natter_test_client_wait_event (alice, "message", 0));
  /* Bob asks something afterwards: any message would have come before the ack. */
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (bob, "history", "{\"room\":\"general\"}");
  assert_error (ack, "not_member");
  g_assert_cmpuint (natter_test_client_count_events (bob, "message"), ==, bob_messages);

  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (bob, "leave", "{\"room\":\"general\"}");
  assert_error (ack, "not_member");

  rooms = natter_test_client_call_json (bob, "rooms", "{}");
  list = json_object_get_array_member (rooms, "rooms");
  for (i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *r = json_array_get_object_element (list, i);

      if (g_str_equal (json_object_get_string_member (r, "name"), "general"))
        g_assert_false (json_object_get_boolean_member (r, "joined"));
    }

  /* And back in. */
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (bob, "join", "{\"room\":\"general\"}");
  assert_ok (ack);
}

static void
test_dm_privacy (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(NatterTestClient) eve = connect_user (f, "eve", NULL);
  g_autoptr(JsonObject) dm = natter_test_client_call_json (bob, "dm", "{\"user\":\"alice\"}");
  g_autoptr(JsonObject) dm2 = NULL;
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(JsonObject) rooms = NULL;
  const char *name;
  JsonArray *list;
  guint i;
  const char *denied[] = {
    "history", "{\"room\":\"@alice+bob\"}",
    "members", "{\"room\":\"@alice+bob\"}",
    "send", "{\"room\":\"@alice+bob\",\"cid\":\"x1\",\"text\":\"let me in\"}",
    "join", "{\"room\":\"@alice+bob\"}",
    "join", "{\"room\":\"@alice+bob\",\"create\":true}",
    "typing", "{\"room\":\"@alice+bob\",\"typing\":true}",
    "leave", "{\"room\":\"@alice+bob\"}",
  };

  assert_ok (dm);
  name = json_object_get_string_member (json_object_get_object_member (dm, "room"), "name");
  g_assert_cmpstr (name, ==, "@alice+bob");
  dm2 = natter_test_client_call_json (alice, "dm", "{\"user\":\"bob\"}");
  assert_ok (dm2);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (dm2, "room"), "name"),
                   ==, "@alice+bob");

  ack = send_text (alice, "@alice+bob", "dm-1", "just us");
  assert_ok (ack);
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 0));

  for (i = 0; i < G_N_ELEMENTS (denied); i += 2)
    {
      g_autoptr(JsonObject) refused = natter_test_client_call_json (eve, denied[i], denied[i + 1]);

      g_test_message ("eve: %s %s", denied[i], denied[i + 1]);
      assert_error (refused, "forbidden");
    }

  /* Not even a DM of someone else's that does not exist yet. */
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (eve, "join", "{\"room\":\"@alice+carol\",\"create\":true}");
  assert_error (ack, "forbidden");

  rooms = natter_test_client_call_json (eve, "rooms", "{}");
  list = json_object_get_array_member (rooms, "rooms");
  for (i = 0; i < json_array_get_length (list); i++)
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, i), "name"),
                     !=, "@alice+bob");

  g_assert_cmpuint (natter_test_client_count_events (eve, "message"), ==, 0);

  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (alice, "dm", "{\"user\":\"alice\"}");
  assert_error (ack, "bad_request");
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (alice, "dm", "{\"user\":\"nobody\"}");
  assert_error (ack, "no_such_room");
}

static void
test_wrong_token (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
  g_autoptr(NatterTestClient) empty = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;
  GPtrArray *frames;

  g_assert_false (natter_test_client_connect (client, "not-a-token", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_cmpstr (error->message, ==, "unauthorized");
  frames = natter_test_client_get_frames (client);
  g_assert_cmpstr (g_ptr_array_index (frames, frames->len - 1), ==, "44{\"message\":\"unauthorized\"}");

  g_clear_error (&error);
  g_assert_false (natter_test_client_connect (empty, "", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
}

static void
test_non_member (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(JsonObject) ack = natter_test_client_call_json (alice, "join", "{\"room\":\"den\",\"create\":true}");
  guint i;
  const char *denied[] = {
    "history", "{\"room\":\"den\"}",
    "members", "{\"room\":\"den\"}",
    "send", "{\"room\":\"den\",\"cid\":\"b1\",\"text\":\"hi\"}",
    "leave", "{\"room\":\"den\"}",
  };

  assert_ok (ack);
  for (i = 0; i < G_N_ELEMENTS (denied); i += 2)
    {
      g_autoptr(JsonObject) refused = natter_test_client_call_json (bob, denied[i], denied[i + 1]);

      assert_error (refused, "not_member");
    }

  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (bob, "history", "{\"room\":\"nowhere\"}");
  assert_error (ack, "no_such_room");
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (bob, "join", "{\"room\":\"nowhere\"}");
  assert_error (ack, "no_such_room");
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (alice, "history", "{\"room\":\"den\"}");
  assert_ok (ack);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (ack, "messages")), ==, 0);
}

static void
test_validation (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autofree char *big = g_strnfill (NATTER_CHAT_MAX_TEXT_BYTES + 1, 'x');
  g_autofree char *exact = g_strnfill (NATTER_CHAT_MAX_TEXT_BYTES, 'y');
  g_autofree char *long_cid = g_strnfill (65, 'c');
  g_autofree char *long_room = g_strnfill (65, 'r');
  g_autoptr(JsonObject) ack = NULL;
  guint i;
  const struct { const char *event, *args, *code; } cases[] = {
    { "join", "{\"room\":\"\",\"create\":true}", "bad_request" },
    { "join", "{\"room\":\"bad\\u0001name\",\"create\":true}", "bad_request" },
    { "join", "{\"room\":42}", "bad_request" },
    { "join", "{}", "bad_request" },
    { "join", "{\"room\":\"@notadm\",\"create\":true}", "bad_request" },
    { "send", "{\"room\":\"general\",\"text\":\"no cid\"}", "bad_request" },
    { "send", "{\"room\":\"general\",\"cid\":\"c1\"}", "bad_request" },
    { "send", "{\"room\":\"general\",\"cid\":\"c\\u0001\",\"text\":\"x\"}", "bad_request" },
    { "send", "{\"room\":\"general\",\"cid\":\"c2\",\"text\":7}", "bad_request" },
    { "send", "{\"room\":\"general\",\"cid\":\"c3\",\"text\":\"x\",\"file\":\"nope\"}", "bad_request" },
    { "send", "{\"room\":\"nowhere\",\"cid\":\"c4\",\"text\":\"x\"}", "no_such_room" },
    { "dm", "{\"user\":\"Not Valid\"}", "bad_request" },
    { "members", "{}", "bad_request" },
    { "nonsense", "{}", "bad_request" },
  };

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonObject) refused = natter_test_client_call_json (alice, cases[i].event, cases[i].args);

      g_test_message ("%s %s", cases[i].event, cases[i].args);
      assert_error (refused, cases[i].code);
    }

  ack = send_text (alice, "general", "big", big);
  assert_error (ack, "too_large");
  g_clear_pointer (&ack, json_object_unref);
  ack = send_text (alice, "general", "exact", exact);
  assert_ok (ack);
  g_clear_pointer (&ack, json_object_unref);
  ack = send_text (alice, "general", long_cid, "x");
  assert_error (ack, "bad_request");
  g_clear_pointer (&ack, json_object_unref);
  {
    g_autofree char *args = g_strdup_printf ("{\"room\":\"%s\",\"create\":true}", long_room);

    ack = natter_test_client_call_json (alice, "join", args);
    assert_error (ack, "bad_request");
  }

  /* Large messages are fine below max-message-bytes (unknown members are
   * ignored); this one spans many reads of the metered stream. */
  {
    g_autofree char *pad = g_strnfill (600 * 1024, 'p');
    g_autofree char *args = g_strdup_printf ("{\"room\":\"general\",\"cid\":\"padded\",\"text\":\"x\",\"pad\":\"%s\"}", pad);

    g_clear_pointer (&ack, json_object_unref);
    ack = natter_test_client_call_json (alice, "send", args);
    assert_ok (ack);
  }

  /* A non-object argument. */
  natter_test_client_send_text (alice, "4299[\"rooms\",\"text\"]");
  g_assert_cmpint (natter_test_client_wait_frame (alice, "4399[{\"ok\":false,\"error\":\"bad_request\"", 0),
                   >=, 0);

  /* Still connected after every refusal. */
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (alice, "rooms", "{}");
  assert_ok (ack);
}

static void
test_members_typing_presence (Fixture       *f,
                              gconstpointer  data)
{
  g_autofree char *bob_token = NULL;
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", &bob_token);
  g_autoptr(NatterTestClient) bob2 = NULL;
  g_autoptr(JsonObject) members = NULL;
  g_autoptr(JsonObject) ack = NULL;
  JsonObject *event;
  JsonArray *list;
  guint i, presence_before;

  members = natter_test_client_call_json (alice, "members", "{\"room\":\"general\"}");
  assert_ok (members);
  list = json_object_get_array_member (members, "members");
  g_assert_cmpuint (json_array_get_length (list), ==, 2);
  for (i = 0; i < 2; i++)
    g_assert_true (json_object_get_boolean_member (json_array_get_object_element (list, i), "online"));

  /* Typing reaches the others, not the typist. */
  natter_test_client_emit_json (alice, "typing", "{\"room\":\"general\",\"typing\":true}");
  event = natter_test_client_wait_event (bob, "typing", 0);
  g_assert_nonnull (event);
  g_assert_cmpstr (json_object_get_string_member (event, "user"), ==, "alice");
  g_assert_true (json_object_get_boolean_member (event, "typing"));
  ack = natter_test_client_call_json (alice, "typing", "{\"room\":\"general\",\"typing\":false}");
  assert_ok (ack);
  g_assert_nonnull (natter_test_client_wait_event (bob, "typing", 1));
  g_assert_cmpuint (natter_test_client_count_events (alice, "typing"), ==, 0);

  /* A second connection of bob's gets messages too; closing it keeps bob online. */
  bob2 = connect_token (f, bob_token);
  g_clear_pointer (&ack, json_object_unref);
  ack = send_text (alice, "general", "to-both", "both of you");
  assert_ok (ack);
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 0));
  g_assert_nonnull (natter_test_client_wait_event (bob2, "message", 0));

  presence_before = natter_test_client_count_events (alice, "presence");
  natter_test_client_close (bob2);
  g_clear_pointer (&members, json_object_unref);
  members = natter_test_client_call_json (alice, "members", "{\"room\":\"general\"}");
  list = json_object_get_array_member (members, "members");
  for (i = 0; i < 2; i++)
    g_assert_true (json_object_get_boolean_member (json_array_get_object_element (list, i), "online"));
  g_assert_cmpuint (natter_test_client_count_events (alice, "presence"), ==, presence_before);

  /* Bob's last connection goes: alice hears he is offline, and back. */
  natter_test_client_close (bob);
  event = natter_test_client_wait_event (alice, "presence", presence_before);
  g_assert_nonnull (event);
  g_assert_cmpstr (json_object_get_string_member (event, "user"), ==, "bob");
  g_assert_false (json_object_get_boolean_member (event, "online"));

  g_clear_pointer (&bob2, natter_test_client_free);
  bob2 = connect_token (f, bob_token);
  event = natter_test_client_wait_event (alice, "presence", presence_before + 1);
  g_assert_nonnull (event);
  g_assert_true (json_object_get_boolean_member (event, "online"));

  /* Someone who shares no room with alice comes and goes unseen by her. */
  {
    g_autofree char *carol_token = natter_test_register (f->ts->url, "carol");
    guint before_carol = natter_test_client_count_events (alice, "presence");
    g_autoptr(NatterTestClient) carol = connect_token (f, carol_token);
    g_autoptr(JsonObject) left = NULL;
    g_autoptr(NatterTestClient) carol2 = NULL;
    g_autoptr(JsonObject) barrier = NULL;
    guint seen;

    /* While in general, carol is seen arriving. */
    event = natter_test_client_wait_event (alice, "presence", before_carol);
    g_assert_nonnull (event);
    g_assert_cmpstr (json_object_get_string_member (event, "user"), ==, "carol");
    left = natter_test_client_call_json (carol, "leave", "{\"room\":\"general\"}");
    assert_ok (left);
    seen = natter_test_client_count_events (alice, "presence");

    natter_test_client_close (carol);
    carol2 = connect_token (f, carol_token);
    natter_test_client_close (carol2);
    /* bob comes back last: once alice hears of him, carol's events would
     * have come before. */
    natter_test_client_close (bob2);
    g_assert_nonnull (natter_test_client_wait_event (alice, "presence", seen));
    barrier = natter_test_client_call_json (alice, "rooms", "{}");
    for (i = seen; i < natter_test_client_count_events (alice, "presence"); i++)
      g_assert_cmpstr (json_object_get_string_member (natter_test_client_get_event (alice, "presence", i),
                                                      "user"), !=, "carol");
  }
}

static void
test_restart (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", &token);
  g_autoptr(NatterTestClient) again = NULL;
  g_autoptr(JsonObject) ack = natter_test_client_call_json (alice, "join", "{\"room\":\"kept\",\"create\":true}");
  g_autoptr(JsonObject) history = NULL;
  g_autoptr(JsonObject) sent = NULL;
  g_autoptr(JsonObject) rooms = NULL;
  JsonArray *list;
  guint i;
  gboolean joined = FALSE;

  assert_ok (ack);
  for (i = 1; i <= 3; i++)
    {
      g_autofree char *cid = g_strdup_printf ("keep-%u", i);
      g_autoptr(JsonObject) one = send_text (alice, "kept", cid, cid);

      assert_ok (one);
    }

  natter_test_server_stop (f->ts);
  g_assert_true (natter_test_client_wait_closed (alice, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (natter_test_client_get_close_code (alice), ==, 1001);

  natter_test_server_start (f->ts);
  again = connect_token (f, token); /* tokens survive too */

  rooms = natter_test_client_call_json (again, "rooms", "{}");
  list = json_object_get_array_member (rooms, "rooms");
  for (i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *r = json_array_get_object_element (list, i);

      if (g_str_equal (json_object_get_string_member (r, "name"), "kept"))
        {
          joined = json_object_get_boolean_member (r, "joined");
          g_assert_cmpint (json_object_get_int_member (r, "last_seq"), ==, 3);
        }
    }
  g_assert_true (joined);

  history = natter_test_client_call_json (again, "history", "{\"room\":\"kept\"}");
  assert_ok (history);
  list = json_object_get_array_member (history, "messages");
  g_assert_cmpuint (json_array_get_length (list), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, 2), "text"), ==, "keep-3");

  /* seq continues gap-free, and the old cids are still remembered. */
  sent = send_text (again, "kept", "keep-4", "four");
  assert_ok (sent);
  g_assert_cmpint (json_object_get_int_member (sent, "seq"), ==, 4);
  g_clear_pointer (&sent, json_object_unref);
  sent = send_text (again, "kept", "keep-2", "dup");
  g_assert_cmpint (json_object_get_int_member (sent, "seq"), ==, 2);
}

static void
test_logout (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autofree char *other_token = NULL;
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", &token);
  g_autoptr(NatterTestClient) alice2 = NULL;
  g_autoptr(NatterTestClient) again = natter_test_client_new (f->ts->url);
  g_autoptr(JsonNode) login = NULL;
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(GError) error = NULL;
  guint status;

  /* A second session on another token must survive the logout. */
  status = natter_test_http (f->ts->url, "POST", "/api/v1/login",
                             "{\"user\":\"alice\",\"password\":\"secret-alice\"}", NULL, &login);
  g_assert_cmpuint (status, ==, 200);
  other_token = g_strdup (json_object_get_string_member (json_node_get_object (login), "token"));
  alice2 = connect_token (f, other_token);

  status = natter_test_http (f->ts->url, "POST", "/api/v1/logout", NULL, token, NULL);
  g_assert_cmpuint (status, ==, 204);
  g_assert_true (natter_test_client_wait_closed (alice, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpint (natter_test_client_wait_frame (alice, "41", 0), >=, 0);

  g_assert_false (natter_test_client_connect (again, token, &error));
  g_assert_cmpstr (error->message, ==, "unauthorized");

  status = natter_test_http (f->ts->url, "POST", "/api/v1/logout", NULL, token, NULL);
  g_assert_cmpuint (status, ==, 401);
  status = natter_test_http (f->ts->url, "POST", "/api/v1/logout", NULL, NULL, NULL);
  g_assert_cmpuint (status, ==, 401);

  g_assert_true (natter_test_client_is_open (alice2));
  ack = natter_test_client_call_json (alice2, "rooms", "{}");
  assert_ok (ack);
}

static void
test_http_api (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *big = NULL;
  guint status;
  guint i;
  const struct { const char *method, *path, *body; guint status; } cases[] = {
    { "POST", "/api/v1/register", "{\"user\":\"carol\",\"password\":\"pw\"}", 201 },
    { "POST", "/api/v1/register", "{\"user\":\"carol\",\"password\":\"other\"}", 409 },
    { "POST", "/api/v1/register", "{\"user\":\"Carol!\",\"password\":\"pw\"}", 400 },
    { "POST", "/api/v1/register", "{\"user\":\"dave\"}", 400 },
    { "POST", "/api/v1/register", "{\"user\":\"dave\",\"password\":\"\"}", 400 },
    { "POST", "/api/v1/register", "not json", 400 },
    { "POST", "/api/v1/register", "[1,2]", 400 },
    { "POST", "/api/v1/register", "{\"user\":\"mallory\\u0000x\",\"password\":\"pw\"}", 400 },
    { "POST", "/api/v1/register", "{\"user\":\"mallory\",\"password\":\"pw\\u0000\"}", 400 },
    { "POST", "/api/v1/login", "{\"user\":\"carol\",\"password\":\"pw\"}", 200 },
    { "POST", "/api/v1/login", "{\"user\":\"carol\",\"password\":\"wrong\"}", 401 },
    { "POST", "/api/v1/login", "{\"user\":\"nobody\",\"password\":\"pw\"}", 401 },
    { "GET", "/api/v1/login", NULL, 405 },
    { "GET", "/api/v1/health", NULL, 200 },
    { "GET", "/api/v1/nothing", NULL, 404 },
    { "GET", "/nothing", NULL, 404 },
  };

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_clear_pointer (&reply, json_node_unref);
      status = natter_test_http (f->ts->url, cases[i].method, cases[i].path, cases[i].body, NULL, &reply);
      g_test_message ("%s %s %s → %u", cases[i].method, cases[i].path,
                      cases[i].body != NULL ? cases[i].body : "", status);
      g_assert_cmpuint (status, ==, cases[i].status);
      g_assert_nonnull (reply);
      g_assert_true (JSON_NODE_HOLDS_OBJECT (reply));
      if (status >= 400)
        {
          g_assert_nonnull (natter_chat_json_get_string (json_node_get_object (reply), "error"));
          g_assert_nonnull (natter_chat_json_get_string (json_node_get_object (reply), "message"));
        }
    }

  g_clear_pointer (&reply, json_node_unref);
  status = natter_test_http (f->ts->url, "GET", "/api/v1/health", NULL, NULL, &reply);
  g_assert_cmpstr (natter_chat_json_get_string (json_node_get_object (reply), "status"), ==, "ok");

  /* Over the body cap. */
  big = g_strnfill (f->ts->config->max_http_body_bytes + 1, ' ');
  g_clear_pointer (&reply, json_node_unref);
  status = natter_test_http (f->ts->url, "POST", "/api/v1/register", big, NULL, &reply);
  g_assert_cmpuint (status, ==, 413);
}

static void
test_metrics (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(JsonObject) ack = send_text (alice, "general", "m1", "count me");
  g_autofree char *text = NULL;
  guint status = 0;

  assert_ok (ack);
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 0));

  text = natter_test_http_get_text (f->ts->url, "/metrics", &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (text, "\nnatter_connections 2\n"));
  g_assert_nonnull (strstr (text, "\nnatter_users_online 2\n"));
  g_assert_nonnull (strstr (text, "\nnatter_rooms 1\n"));
  g_assert_nonnull (strstr (text, "\nnatter_messages_stored_total 1\n"));
  g_assert_nonnull (strstr (text, "\nnatter_messages_delivered_total 2\n"));
  g_assert_nonnull (strstr (text, "# TYPE natter_bytes_in_total counter\n"));
  g_assert_nonnull (strstr (text, "# TYPE natter_bytes_out_total counter\n"));
  g_assert_null (strstr (text, "\nnatter_bytes_in_total 0\n"));
}

/* ---- a file through tus, to send it -------------------------------------------- */

typedef struct
{
  GBytes  *body;
  gboolean done;
} Sent;

static void
sent_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Sent *sent = user_data;

  sent->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);
  sent->done = TRUE;
}

static gboolean
sent_cond (gpointer data)
{
  return ((Sent *) data)->done;
}

static guint
tus_request (const char   *url,
             const char   *method,
             const char   *token,
             const char  **headers,
             const char   *body,
             SoupMessage **out_msg)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  SoupMessage *msg = soup_message_new (method, url);
  g_autofree char *bearer = g_strconcat ("Bearer ", token, NULL);
  Sent sent = { 0, };
  guint i;

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", bearer);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Tus-Resumable", "1.0.0");
  for (i = 0; headers != NULL && headers[i] != NULL; i += 2)
    soup_message_headers_replace (soup_message_get_request_headers (msg), headers[i], headers[i + 1]);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/offset+octet-stream", bytes);
    }
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, sent_cb, &sent);
  g_assert_true (natter_test_wait (sent_cond, &sent, NATTER_TEST_TIMEOUT_MS));
  g_clear_pointer (&sent.body, g_bytes_unref);
  *out_msg = msg;
  return soup_message_get_status (msg);
}

/* Uploads "hello" as a.txt to @room; returns the file id. */
static char *
upload_hello (Fixture    *f,
              const char *token,
              const char *room)
{
  g_autofree char *room64 = g_base64_encode ((const guchar *) room, strlen (room));
  g_autofree char *metadata = g_strdup_printf ("room %s,filename YS50eHQ=,mime dGV4dC9wbGFpbg==", room64);
  const char *create[] = { "Upload-Length", "5", "Upload-Metadata", metadata, NULL };
  const char *patch[] = { "Upload-Offset", "0", NULL };
  g_autofree char *url = g_strconcat (f->ts->url, "/api/v1/uploads", NULL);
  g_autofree char *location = NULL;
  g_autoptr(SoupMessage) created = NULL;
  g_autoptr(SoupMessage) patched = NULL;
  const char *loc;

  g_assert_cmpuint (tus_request (url, "POST", token, create, NULL, &created), ==, 201);
  loc = soup_message_headers_get_one (soup_message_get_response_headers (created), "Location");
  g_assert_nonnull (loc);
  location = g_str_has_prefix (loc, "http") ? g_strdup (loc) : g_strconcat (f->ts->url, loc, NULL);
  g_assert_cmpuint (tus_request (location, "PATCH", token, patch, "hello", &patched), ==, 204);
  return g_strdup (soup_message_headers_get_one (soup_message_get_response_headers (patched),
                                                 "Natter-File-Id"));
}

static void
test_send_file (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", &token);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(JsonObject) ack = natter_test_client_call_json (alice, "join", "{\"room\":\"other\",\"create\":true}");
  g_autofree char *id = upload_hello (f, token, "general");
  g_autofree char *good = NULL;
  JsonObject *message, *file;
  guint i;
  const char *bad[] = {
    "{\"room\":\"general\",\"cid\":\"f1\",\"text\":\"\",\"file\":{\"id\":\"nope\",\"name\":\"a.txt\",\"size\":5,\"mime\":\"text/plain\"}}",
    "{\"room\":\"general\",\"cid\":\"f2\",\"text\":\"\",\"file\":{\"id\":\"../../etc\",\"name\":\"a.txt\",\"size\":5,\"mime\":\"text/plain\"}}",
    NULL, /* right id, wrong size */
    NULL, /* right id, another room */
  };
  g_autofree char *wrong_size = NULL;
  g_autofree char *wrong_room = NULL;

  assert_ok (ack);
  g_assert_nonnull (id);
  wrong_size = g_strdup_printf ("{\"room\":\"general\",\"cid\":\"f3\",\"text\":\"\",\"file\":"
                                "{\"id\":\"%s\",\"name\":\"a.txt\",\"size\":6,\"mime\":\"text/plain\"}}", id);
  wrong_room = g_strdup_printf ("{\"room\":\"other\",\"cid\":\"f4\",\"text\":\"\",\"file\":"
                                "{\"id\":\"%s\",\"name\":\"a.txt\",\"size\":5,\"mime\":\"text/plain\"}}", id);
  bad[2] = wrong_size;
  bad[3] = wrong_room;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(JsonObject) refused = natter_test_client_call_json (alice, "send", bad[i]);

      g_test_message ("%s", bad[i]);
      assert_error (refused, "bad_request");
    }

  good = g_strdup_printf ("{\"room\":\"general\",\"cid\":\"f5\",\"text\":\"a file\",\"file\":"
                          "{\"id\":\"%s\",\"name\":\"a.txt\",\"size\":5,\"mime\":\"text/plain\"}}", id);
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (alice, "send", good);
  assert_ok (ack);
  message = natter_test_client_wait_event (bob, "message", 0);
  g_assert_nonnull (message);
  file = json_object_get_object_member (message, "file");
  g_assert_nonnull (file);
  g_assert_cmpstr (json_object_get_string_member (file, "id"), ==, id);
  g_assert_cmpint (json_object_get_int_member (file, "size"), ==, 5);
  g_assert_cmpstr (json_object_get_string_member (file, "name"), ==, "a.txt");
}

/* A join or leave is answered after the fsync that makes it durable, as a
 * send is (the main loop does not wait for the disk for it: the group
 * commit's worker does), and sends received before it are committed, and
 * answered, before it, to the members they were committed for. */
static void
test_membership_synced (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = connect_user (f, "alice", NULL);
  g_autoptr(NatterTestClient) bob = connect_user (f, "bob", NULL);
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(JsonObject) send_ack = NULL;
  g_autoptr(JsonObject) leave_ack = NULL;
  const char *cids[] = { "before-leave", NULL };
  GPtrArray *frames;
  guint64 syncs = read_metric (f, "natter_store_syncs_total");
  JsonObject *event;
  int send_index, leave_index;

  ack = natter_test_client_call_json (bob, "join", "{\"room\":\"synced\",\"create\":true}");
  assert_ok (ack);
  g_assert_cmpuint (read_metric (f, "natter_store_syncs_total"), ==, syncs + 1);
  g_assert_nonnull (natter_test_client_wait_event (bob, "member", 0));

  /* Already a member: answered after a sync too (an earlier join of the
   * same user may still be on its way to the disk). */
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (bob, "join", "{\"room\":\"synced\"}");
  assert_ok (ack);
  g_assert_cmpuint (read_metric (f, "natter_store_syncs_total"), ==, syncs + 2);

  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (alice, "join", "{\"room\":\"synced\"}");
  assert_ok (ack);

  /* A send and a leave written back to back: the send first. */
  emit_sends (bob, "synced", cids);
  natter_test_client_send_text (bob, "42902[\"leave\",{\"room\":\"synced\"}]");
  send_ack = wait_raw_ack (bob, 901);
  leave_ack = wait_raw_ack (bob, 902);
  assert_ok (send_ack);
  assert_ok (leave_ack);
  frames = natter_test_client_get_frames (bob);
  send_index = natter_test_client_wait_frame (bob, "43901[", 0);
  leave_index = natter_test_client_wait_frame (bob, "43902[", 0);
  g_assert_cmpint (send_index, <, leave_index);
  g_assert_cmpuint (frames->len, >, (guint) leave_index);

  /* Bob gets his own message: it was committed while he was a member
   * (who gets a message is decided at its commit, not at its answer). */
  event = natter_test_client_wait_event (bob, "message", 0);
  g_assert_nonnull (event);
  g_assert_cmpstr (json_object_get_string_member (event, "cid"), ==, "before-leave");

  /* Alice saw the message, then bob leave. */
  g_assert_nonnull (natter_test_client_wait_event (alice, "message", 0));
  event = natter_test_client_wait_event (alice, "member", 1);
  g_assert_nonnull (event);
  g_assert_cmpstr (json_object_get_string_member (event, "action"), ==, "leave");
  g_assert_cmpstr (json_object_get_string_member (event, "user"), ==, "bob");
  g_clear_pointer (&ack, json_object_unref);
  ack = natter_test_client_call_json (alice, "members", "{\"room\":\"synced\"}");
  assert_ok (ack);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (ack, "members")), ==, 1);
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/server/chat/basic", test_basic);
  ADD ("/server/chat/history", test_history);
  ADD ("/server/chat/dedupe", test_dedupe);
  ADD ("/server/chat/batch-dedupe", test_batch_dedupe);
  g_test_add_func ("/server/chat/batch-disk-failure", test_batch_disk_failure);
  ADD ("/server/chat/leave", test_leave);
  ADD ("/server/chat/membership-synced", test_membership_synced);
  ADD ("/server/chat/dm-privacy", test_dm_privacy);
  ADD ("/server/chat/wrong-token", test_wrong_token);
  ADD ("/server/chat/non-member", test_non_member);
  ADD ("/server/chat/validation", test_validation);
  ADD ("/server/chat/members-typing-presence", test_members_typing_presence);
  ADD ("/server/chat/restart", test_restart);
  ADD ("/server/chat/logout", test_logout);
  ADD ("/server/chat/send-file", test_send_file);
  ADD ("/server/http/api", test_http_api);
  ADD ("/server/http/metrics", test_metrics);
#undef ADD

  return g_test_run ();
}
