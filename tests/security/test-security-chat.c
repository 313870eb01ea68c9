/* test-security-chat.c: the chat layer against a client that tries to read
 * or write where it does not belong, names that pose as others, text at
 * and past its limits, and floods.
 *
 * Already in tests/server (not repeated): send/history/members/leave in a
 * public room one is not in [chat/non-member]; join/send/history/members/
 * typing/leave on "@alice+bob" as eve [chat/dm-privacy]; a room name with
 * U+0001, text of 16384+1 ASCII bytes [chat/validation]; the sequential
 * send rate and its refill [hardening/rate-limit]. */
#include <string.h>

#include "natter-limits.h"
#include "security-common.h"

static JsonObject *
call (NatterTestClient *client,
      const char       *event,
      const char       *format,
      ...) G_GNUC_PRINTF (3, 4);

static JsonObject *
call (NatterTestClient *client,
      const char       *event,
      const char       *format,
      ...)
{
  va_list args;
  g_autofree char *json = NULL;

  va_start (args, format);
  json = g_strdup_vprintf (format, args);
  va_end (args);
  return natter_test_client_call_json (client, event, json);
}

static void
assert_refused (JsonObject *ack)
{
  g_assert_nonnull (ack);
  g_assert_false (json_object_get_boolean_member_with_default (ack, "ok", TRUE));
}

static void
test_not_member_extra (SecFixture    *f,
                       gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = sec_connect_user (f->ts->url, "alice", NULL);
  g_autoptr(NatterTestClient) eve = sec_connect_user (f->ts->url, "eve", NULL);
  g_autoptr(JsonObject) ack = call (alice, "join", "{\"room\":\"den\",\"create\":true}");
  guint i;
  const char *denied[] = {
    "typing", "{\"room\":\"den\",\"typing\":true}",
    "history", "{\"room\":\"den\",\"after\":0,\"limit\":200}",
    "history", "{\"room\":\"den\",\"before\":9007199254740991}",
    "send", "{\"room\":\"den\",\"cid\":\"e1\",\"text\":\"x\",\"file\":{\"id\":\"a\",\"name\":\"b\",\"size\":1,\"mime\":\"c\"}}",
  };

  sec_assert_ok (ack);
  g_clear_pointer (&ack, json_object_unref);
  ack = call (alice, "send", "{\"room\":\"den\",\"cid\":\"a1\",\"text\":\"private-ish\"}");
  sec_assert_ok (ack);

  for (i = 0; i < G_N_ELEMENTS (denied); i += 2)
    {
      g_autoptr(JsonObject) refused = natter_test_client_call_json (eve, denied[i], denied[i + 1]);

      g_test_message ("eve: %s %s", denied[i], denied[i + 1]);
      sec_assert_error (refused, "not_member");
    }
  /* Nothing of den reached eve: no typing, no message. */
  g_assert_cmpuint (natter_test_client_count_events (eve, "typing"), ==, 0);
  g_assert_cmpuint (natter_test_client_count_events (eve, "message"), ==, 0);
  g_assert_cmpuint (natter_test_client_count_events (alice, "typing"), ==, 0);
  sec_assert_fixture_ok (f);
}

static void
test_dm_of_others (SecFixture    *f,
                   gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = sec_connect_user (f->ts->url, "alice", NULL);
  g_autoptr(NatterTestClient) bob = sec_connect_user (f->ts->url, "bob", NULL);
  g_autoptr(NatterTestClient) eve = sec_connect_user (f->ts->url, "eve", NULL);
  g_autoptr(JsonObject) dm = call (alice, "dm", "{\"user\":\"bob\"}");
  g_autoptr(JsonObject) said = NULL;
  /* Names that are not "@alice+bob" but might be taken for it, or be
   * mapped to it by a careless normalisation. */
  const char *aliases[] = {
    "@bob+alice", "@alice+bob+eve", "@eve+alice+bob", "@alice++bob", "@+alice+bob",
    "@alice+bob ", " @alice+bob", "@Alice+bob", "@alice+bob\\u200b", "@alice\\u200b+bob",
    "@alice+bob\\n", "@alice+alice", "@alice+bob/..", "@alice+bob%00", "＠alice+bob",
    "@alice+eve", "@bob+eve",
  };
  guint i, alice_seen, bob_seen;

  sec_assert_ok (dm);
  said = call (alice, "send", "{\"room\":\"@alice+bob\",\"cid\":\"dm1\",\"text\":\"between us\"}");
  sec_assert_ok (said);
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 0));
  alice_seen = natter_test_client_count_events (alice, "message");
  bob_seen = natter_test_client_count_events (bob, "message");

  for (i = 0; i < G_N_ELEMENTS (aliases); i++)
    {
      g_autoptr(JsonObject) join = call (eve, "join", "{\"room\":\"%s\",\"create\":true}", aliases[i]);
      g_autoptr(JsonObject) send = call (eve, "send", "{\"room\":\"%s\",\"cid\":\"e%u\",\"text\":\"hi\"}",
                                         aliases[i], i);
      g_autoptr(JsonObject) history = call (eve, "history", "{\"room\":\"%s\"}", aliases[i]);
      g_autoptr(JsonObject) members = call (eve, "members", "{\"room\":\"%s\"}", aliases[i]);

      g_test_message ("eve on %s: join %s, send %s, history %s", aliases[i],
                      json_object_get_string_member_with_default (join, "error", "ok"),
                      json_object_get_string_member_with_default (send, "error", "ok"),
                      json_object_get_string_member_with_default (history, "error", "ok"));
      /* "@alice+eve" and "@bob+eve" are eve's own DMs: dm makes them, join
       * must not. A name that does not start with '@' is a public room:
       * it may exist, but only as itself, with eve alone in it. */
      if (aliases[i][0] == '@')
        {
          assert_refused (join);
          assert_refused (send);
          assert_refused (history);
          assert_refused (members);
        }
      else if (json_object_get_boolean_member_with_default (join, "ok", FALSE))
        {
          JsonObject *room = json_object_get_object_member (join, "room");
          JsonArray *list = json_object_get_array_member (history, "messages");
          guint j;

          g_test_message ("  a public room that looks like the DM (reported, not a leak)");
          g_assert_cmpstr (json_object_get_string_member (room, "name"), !=, "@alice+bob");
          g_assert_cmpuint (json_array_get_length (json_object_get_array_member (room, "members")), ==, 1);
          for (j = 0; j < json_array_get_length (list); j++)
            g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, j), "from"),
                             ==, "eve");
        }
    }

  /* Eve's own DM with alice is made by "dm" and is not alice+bob's. */
  {
    g_autoptr(JsonObject) own = call (eve, "dm", "{\"user\":\"alice\"}");
    g_autoptr(JsonObject) history = NULL;

    sec_assert_ok (own);
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (own, "room"), "name"),
                     ==, "@alice+eve");
    history = call (eve, "history", "{\"room\":\"@alice+eve\"}");
    sec_assert_ok (history);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (history, "messages")), ==, 0);
  }

  /* Alice and bob heard nothing from any of it, and eve nothing of theirs. */
  {
    g_autoptr(JsonObject) again = call (bob, "send", "{\"room\":\"@alice+bob\",\"cid\":\"dm2\",\"text\":\"still us\"}");

    sec_assert_ok (again);
    g_assert_nonnull (natter_test_client_wait_event (alice, "message", alice_seen));
    g_assert_cmpstr (json_object_get_string_member (natter_test_client_get_event (alice, "message", alice_seen),
                                                    "cid"), ==, "dm2");
    g_assert_cmpuint (natter_test_client_count_events (bob, "message"), ==, bob_seen + 1);
  }
  for (i = 0; i < natter_test_client_count_events (eve, "message"); i++)
    g_assert_cmpstr (json_object_get_string_member (natter_test_client_get_event (eve, "message", i), "from"),
                     ==, "eve");
  sec_assert_fixture_ok (f);
}

static void
test_control_characters (SecFixture    *f,
                         gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = sec_connect_user (f->ts->url, "alice", NULL);
  const char *rooms[] = {
    "a\\u007fb", "a\\u0085b", "a\\u009bb", "\\u001b[31mred", "a\\tb", "a\\nb", "a\\rb",
    "a\\u200eb", "a\\u202eb", "a\\u2066b", "a\\u2028b", "a\\u2029b", "\\ufeffgeneral",
    "general\\u00ad", "a\\u180eb",
  };
  const char *users[] = {
    "a\\nb", "a\\tb", "a\\u007f", "\\u001bx", "ali\\u0441e" /* Cyrillic с */, "alice\\r",
    "a\\u200bb", "ALICE", " alice", "alice ",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (rooms); i++)
    {
      g_autoptr(JsonObject) ack = call (alice, "join", "{\"room\":\"%s\",\"create\":true}", rooms[i]);

      g_test_message ("room %s", rooms[i]);
      sec_assert_error (ack, "bad_request");
    }
  for (i = 0; i < G_N_ELEMENTS (users); i++)
    {
      g_autofree char *body = g_strdup_printf ("{\"user\":\"%s\",\"password\":\"pw\"}", users[i]);
      g_autoptr(JsonObject) ack = call (alice, "dm", "{\"user\":\"%s\"}", users[i]);

      g_test_message ("user %s", users[i]);
      g_assert_cmpuint (natter_test_http (f->ts->url, "POST", "/api/v1/register", body, NULL, NULL), ==, 400);
      sec_assert_error (ack, "bad_request");
    }
  /* None of them exists now. */
  {
    g_autoptr(JsonObject) list = call (alice, "rooms", "{}");

    sec_assert_ok (list);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (list, "rooms")), ==, 1);
  }
  sec_assert_fixture_ok (f);
}

static GPtrArray *
list_dir (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  return names;
}

static void
test_dot_dot_names (SecFixture    *f,
                    gconstpointer  data)
{
  g_autoptr(NatterTestClient) alice = sec_connect_user (f->ts->url, "alice", NULL);
  g_autoptr(NatterTestClient) bob = sec_connect_user (f->ts->url, "bob", NULL);
  g_autoptr(GPtrArray) before = list_dir (f->ts->data_dir);
  g_autoptr(GPtrArray) after = NULL;
  g_autofree char *parent = g_path_get_dirname (f->ts->data_dir);
  g_autoptr(GPtrArray) parent_after = NULL;
  const char *rooms[] = { "..", "../general", "../../../etc/passwd", "./general", "general/..",
                          "general/../general", "..\\\\general", "%2e%2e%2fgeneral", "/general" };
  guint i;

  /* A room name is a name: a room of its own, never another room, never
   * a path. */
  for (i = 0; i < G_N_ELEMENTS (rooms); i++)
    {
      g_autoptr(JsonObject) join = call (alice, "join", "{\"room\":\"%s\",\"create\":true}", rooms[i]);
      g_autoptr(JsonObject) send = NULL;
      g_autoptr(JsonObject) members = NULL;
      JsonObject *room;

      g_test_message ("room %s", rooms[i]);
      if (!json_object_get_boolean_member_with_default (join, "ok", FALSE))
        {
          sec_assert_error (join, "bad_request");
          continue;
        }
      room = json_object_get_object_member (join, "room");
      g_assert_cmpint (json_object_get_int_member (room, "last_seq"), ==, 0);
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (room, "members")), ==, 1);
      send = call (alice, "send", "{\"room\":\"%s\",\"cid\":\"dot-%u\",\"text\":\"where?\"}", rooms[i], i);
      sec_assert_ok (send);
      g_assert_cmpint (json_object_get_int_member (send, "seq"), ==, 1);
      members = call (bob, "members", "{\"room\":\"%s\"}", rooms[i]);
      sec_assert_error (members, "not_member");
    }
  /* Bob, in general only, got none of it; general is untouched. */
  {
    g_autoptr(JsonObject) history = call (bob, "history", "{\"room\":\"general\"}");

    sec_assert_ok (history);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (history, "messages")), ==, 0);
    g_assert_cmpuint (natter_test_client_count_events (bob, "message"), ==, 0);
  }

  /* User names may hold dots: ".." and "." are names like others. */
  {
    g_autofree char *dots = natter_test_register (f->ts->url, "..");
    g_autoptr(NatterTestClient) dotty = sec_connect_token (f->ts->url, dots);
    g_autoptr(JsonObject) dm = call (dotty, "dm", "{\"user\":\"alice\"}");
    g_autoptr(JsonObject) history = NULL;

    sec_assert_ok (dm);
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (dm, "room"), "name"),
                     ==, "@..+alice");
    history = call (dotty, "history", "{\"room\":\"@alice+bob\"}");
    assert_refused (history);
  }

  /* Nothing appeared on disk, here or above. */
  after = list_dir (f->ts->data_dir);
  parent_after = list_dir (parent);
  for (i = 0; i < after->len; i++)
    g_assert_true (g_ptr_array_find_with_equal_func (before, g_ptr_array_index (after, i), g_str_equal, NULL));
  for (i = 0; i < parent_after->len; i++)
    g_assert_null (strstr (g_ptr_array_index (parent_after, i), "general"));
  sec_assert_fixture_ok (f);
}

typedef struct
{
  NatterTestClient *client;
  const char       *prefix;
} AnswerWait;

static gboolean
answer_or_close_cond (gpointer data)
{
  AnswerWait *wait = data;
  GPtrArray *frames = natter_test_client_get_frames (wait->client);
  guint i;

  if (!natter_test_client_is_open (wait->client))
    return TRUE;
  for (i = 0; i < frames->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (frames, i), wait->prefix))
      return TRUE;
  return FALSE;
}

static void
test_text_limits (SecFixture    *f,
                  gconstpointer  data)
{
  g_autofree char *alice_token = NULL;
  NatterTestClient *alice = sec_connect_user (f->ts->url, "alice", &alice_token);
  g_autoptr(NatterTestClient) bob = sec_connect_user (f->ts->url, "bob", NULL);
  g_autoptr(GString) han_over = g_string_new (NULL);   /* 5462 × 3 bytes = 16386 */
  g_autoptr(GString) han_fits = g_string_new (NULL);   /* 5461 × 3 bytes = 16383 */
  g_autoptr(GString) emoji_over = g_string_new (NULL); /* 4096 × 4 + 1 = 16385 */
  guint i, seen = 0;
  struct { const char *text; const char *code; } cases[3];

  for (i = 0; i < 5462; i++)
    {
      g_string_append (han_over, "中");
      if (i < 5461)
        g_string_append (han_fits, "中");
    }
  for (i = 0; i < 4096; i++)
    g_string_append (emoji_over, "😀");
  g_string_append_c (emoji_over, '!');

  /* Bytes count, not characters. */
  cases[0].text = han_over->str;      cases[0].code = "too_large";
  cases[1].text = emoji_over->str;    cases[1].code = "too_large";
  cases[2].text = han_fits->str;      cases[2].code = NULL;
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonObject) sent = call (alice, "send", "{\"room\":\"general\",\"cid\":\"t%u\",\"text\":\"%s\"}",
                                         i, cases[i].text);

      if (cases[i].code != NULL)
        sec_assert_error (sent, cases[i].code);
      else
        {
          JsonObject *event;

          sec_assert_ok (sent);
          event = natter_test_client_wait_event (bob, "message", seen++);
          g_assert_nonnull (event);
          g_assert_cmpuint (strlen (json_object_get_string_member (event, "text")), ==, 16383);
        }
    }

  /* Lone UTF-16 surrogates decode to no character at all: refused
   * wherever a string is kept and sent on (text, topic, room), so nobody's
   * connection chokes on invalid UTF-8 later. A proper pair is fine. */
  {
    const char *lone[][2] = {
      { "send", "{\"room\":\"general\",\"cid\":\"s1\",\"text\":\"a\\ud800b\"}" },
      { "send", "{\"room\":\"general\",\"cid\":\"s2\",\"text\":\"\\udfff\"}" },
      { "send", "{\"room\":\"general\",\"cid\":\"s3\",\"text\":\"\\ude00\\ud83d\"}" },
      { "join", "{\"room\":\"t\\ud800\",\"create\":true}" },
      { "join", "{\"room\":\"topical\",\"create\":true,\"topic\":\"\\ud800\"}" },
      { "send", "{\"room\":\"general\",\"cid\":\"s4\\ud800\",\"text\":\"x\"}" },
    };

    /* Sent as raw frames: the test's own JSON library would turn the
     * escapes into bytes before they left. */
    for (i = 0; i < G_N_ELEMENTS (lone); i++)
      {
        g_autofree char *frame = g_strdup_printf ("42%u[\"%s\",%s]", 500 + i, lone[i][0], lone[i][1]);
        g_autofree char *answer = g_strdup_printf ("43%u[{\"ok\":false,\"error\":\"bad_request\"", 500 + i);
        AnswerWait wait;

        g_test_message ("%s", frame);
        /* Refused with bad_request, or (where json-glib gives up on the
         * escape) as invalid JSON, closing that connection with 1002. */
        wait.client = alice;
        wait.prefix = answer;
        natter_test_client_send_text (alice, frame);
        natter_test_wait (answer_or_close_cond, &wait, NATTER_TEST_TIMEOUT_MS);
        if (!natter_test_client_is_open (alice))
          {
            g_assert_true (natter_test_client_wait_closed (alice, NATTER_TEST_TIMEOUT_MS));
            g_assert_cmpuint (natter_test_client_get_close_code (alice), ==, 1002);
            g_test_message ("  closed with 1002");
            natter_test_client_free (alice);
            alice = sec_connect_token (f->ts->url, alice_token);
          }
        else
          g_assert_cmpint (natter_test_client_wait_frame (alice, answer, 0), >=, 0);
      }
    natter_test_client_send_text (alice, "42599[\"send\",{\"room\":\"general\",\"cid\":\"pair\",\"text\":\"\\ud83d\\ude00\"}]");
    g_assert_cmpint (natter_test_client_wait_frame (alice, "43599[{\"ok\":true", 0), >=, 0);
    g_assert_cmpstr (json_object_get_string_member (natter_test_client_wait_event (bob, "message", seen),
                                                    "text"), ==, "😀");
  }
  g_assert_true (natter_test_client_is_open (bob));
  g_assert_true (natter_test_client_is_open (alice));
  natter_test_client_free (alice);
  sec_assert_fixture_ok (f);
}

/* ---- floods ------------------------------------------------------------------------------ */

typedef struct
{
  NatterTestClient **clients;
  guint              n_clients;
  guint              n;
} AcksWait;

static guint
count_acks (NatterTestClient *client,
            guint            *ok,
            guint            *limited)
{
  GPtrArray *frames = natter_test_client_get_frames (client);
  guint i, n = 0;

  for (i = 0; i < frames->len; i++)
    {
      const char *frame = g_ptr_array_index (frames, i);

      if (!g_str_has_prefix (frame, "43"))
        continue;
      n++;
      if (strstr (frame, "[{\"ok\":true") != NULL)
        (*ok)++;
      else if (strstr (frame, "\"error\":\"rate_limited\"") != NULL)
        (*limited)++;
    }
  return n;
}

static gboolean
acks_cond (gpointer data)
{
  AcksWait *wait = data;
  guint i, n = 0, ok = 0, limited = 0;

  for (i = 0; i < wait->n_clients; i++)
    n += count_acks (wait->clients[i], &ok, &limited);
  return n >= wait->n;
}

static void
tweak_rate (NatterServerConfig *config)
{
  config->send_rate = 10;
  config->send_burst = 50;
}

static void
test_send_flood (SecFixture    *f,
                 gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "flooder");
  NatterTestClient *conns[3];
  g_autoptr(NatterTestClient) bob = sec_connect_user (f->ts->url, "bob", NULL);
  AcksWait wait = { conns, G_N_ELEMENTS (conns), 600 };
  guint i, ok = 0, limited = 0, answered = 0;
  gint64 start, elapsed;

  for (i = 0; i < G_N_ELEMENTS (conns); i++)
    conns[i] = sec_connect_token (f->ts->url, token);

  /* 600 sends as fast as the sockets take them, over three connections of
   * one user, nobody waiting for an ack. */
  start = g_get_monotonic_time ();
  for (i = 0; i < 600; i++)
    {
      g_autofree char *frame = g_strdup_printf ("42%u[\"send\",{\"room\":\"general\",\"cid\":\"f-%u\",\"text\":\"flood %u\"}]",
                                                1000 + i, i, i);

      natter_test_client_send_text (conns[i % 3], frame);
    }
  g_assert_true (natter_test_wait (acks_cond, &wait, 30000));
  elapsed = g_get_monotonic_time () - start;
  for (i = 0; i < G_N_ELEMENTS (conns); i++)
    answered += count_acks (conns[i], &ok, &limited);
  g_test_message ("600 sends in %.2f s: %u ok, %u rate_limited", elapsed / 1e6, ok, limited);

  /* Every send answered, each either ok or rate_limited; only the burst
   * plus what the elapsed time refilled got through. */
  g_assert_cmpuint (answered, ==, 600);
  g_assert_cmpuint (ok + limited, ==, 600);
  g_assert_cmpuint (ok, >=, 50);
  g_assert_cmpuint (ok, <=, 50 + 10 * (elapsed / G_USEC_PER_SEC) + 10);

  /* Only what was accepted is stored and delivered. */
  {
    g_autoptr(JsonObject) history = call (bob, "history", "{\"room\":\"general\",\"after\":0,\"limit\":200}");
    g_autoptr(JsonObject) own = NULL;

    sec_assert_ok (history);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (history, "messages")), ==, ok);

    /* Bob is not limited by the flooder's bucket. */
    own = call (bob, "send", "{\"room\":\"general\",\"cid\":\"bob-1\",\"text\":\"me too\"}");
    sec_assert_ok (own);
  }

  /* The flooder's bucket refills at 10/s: within ~1 s it may send again. */
  {
    gint64 until = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
    gboolean recovered = FALSE;
    guint n = 0;

    while (!recovered && g_get_monotonic_time () < until)
      {
        g_autoptr(JsonObject) again = call (conns[0], "send",
                                            "{\"room\":\"general\",\"cid\":\"late-%u\",\"text\":\"later\"}", n++);

        recovered = json_object_get_boolean_member_with_default (again, "ok", FALSE);
        if (!recovered)
          {
            gint64 pause = g_get_monotonic_time () + 50 * 1000;

            sec_assert_error (again, "rate_limited");
            while (g_get_monotonic_time () < pause)
              g_main_context_iteration (NULL, FALSE);
          }
      }
    g_assert_true (recovered);
  }

  for (i = 0; i < G_N_ELEMENTS (conns); i++)
    natter_test_client_free (conns[i]);
  sec_assert_fixture_ok (f);
}

/* A flood of typing from one user: the server relays at most what the
 * per-user limit allows (NATTER_TYPING_BURST saved up, NATTER_TYPING_RATE
 * a second after that), drops the rest (an acked one hears rate_limited),
 * and keeps serving both the flooder and the member who reads. */
static void
test_typing_flood (SecFixture    *f,
                   gconstpointer  data)
{
  g_autoptr(NatterTestClient) mallory = sec_connect_user (f->ts->url, "mallory", NULL);
  g_autoptr(NatterTestClient) bob = sec_connect_user (f->ts->url, "bob", NULL);
  g_autoptr(JsonObject) limited = NULL;
  g_autoptr(JsonObject) sent = NULL;
  guint n = sec_scaled (5000), i, relayed, allowed;
  gint64 start = g_get_monotonic_time ();
  double seconds;

  for (i = 0; i < n; i++)
    natter_test_client_send_text (mallory, i % 2 ? "42[\"typing\",{\"room\":\"general\",\"typing\":true}]"
                                                 : "42[\"typing\",{\"room\":\"general\",\"typing\":false}]");
  /* Right behind the flood, with the bucket empty: refused out loud. */
  limited = natter_test_client_call_json (mallory, "typing", "{\"room\":\"general\",\"typing\":true}");
  g_assert_nonnull (limited);
  g_assert_false (json_object_get_boolean_member (limited, "ok"));
  g_assert_cmpstr (json_object_get_string_member (limited, "error"), ==, "rate_limited");

  /* Still served: a message after the flood reaches bob, behind every
   * typing event the server relayed (one connection, in order). */
  sent = natter_test_client_call_json (mallory, "send", "{\"room\":\"general\",\"cid\":\"after-flood\",\"text\":\"still here\"}");
  g_assert_nonnull (sent);
  g_assert_true (json_object_get_boolean_member (sent, "ok"));
  g_assert_nonnull (natter_test_client_wait_event (bob, "message", 0));
  seconds = (g_get_monotonic_time () - start) / 1e6;

  relayed = natter_test_client_count_events (bob, "typing");
  allowed = NATTER_TYPING_BURST + (guint) (NATTER_TYPING_RATE * seconds) + 1;
  g_test_message ("%u typing events sent in %.2f s, %u relayed (at most %u allowed)",
                  n, seconds, relayed, allowed);
  g_assert_cmpuint (relayed, >=, NATTER_TYPING_BURST);
  g_assert_cmpuint (relayed, <=, allowed);
  g_assert_true (natter_test_client_is_open (mallory));
  g_assert_true (natter_test_client_is_open (bob));
  g_assert_cmpuint (natter_test_client_count_events (mallory, "typing"), ==, 0);
  sec_assert_fixture_ok (f);
}

int
main (int   argc,
      char *argv[])
{
  sec_init (&argc, &argv, "chat");

  sec_add ("/security/chat/not-member-extra", NULL, test_not_member_extra);
  sec_add ("/security/chat/dm-of-others", NULL, test_dm_of_others);
  sec_add ("/security/chat/control-characters", NULL, test_control_characters);
  sec_add ("/security/chat/dot-dot-names", NULL, test_dot_dot_names);
  sec_add ("/security/chat/text-limits", NULL, test_text_limits);
  sec_add ("/security/chat/send-flood", tweak_rate, test_send_flood);
  sec_add ("/security/chat/typing-flood", NULL, test_typing_flood);

  return sec_run ();
}
