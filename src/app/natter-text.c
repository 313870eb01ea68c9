/* natter-text.c: text helpers for the views: links, dates and fuzzy room
 * search. */

#include <glib/gi18n.h>
#include <string.h>

#include "natter-text.h"

static gboolean
is_url_end (gunichar c)
{
  return g_unichar_isspace (c) || c == '<' || c == '>' || c == '"' || c == 0;
}

char *
natter_text_to_markup (const char *text,
                       const char *me)
{
  GString *markup = g_string_new (NULL);
  g_autofree char *mention = me != NULL ? g_strconcat ("@", me, NULL) : NULL;
  gsize mention_len = mention != NULL ? strlen (mention) : 0;
  const char *p = text != NULL ? text : "";

  while (*p != '\0')
    {
      if (g_str_has_prefix (p, "https://") || g_str_has_prefix (p, "http://"))
        {
          const char *end = p;
          g_autofree char *url = NULL;
          g_autofree char *escaped = NULL;

          while (*end != '\0' && !is_url_end (g_utf8_get_char (end)))
            end = g_utf8_next_char (end);
          /* A sentence's full stop or closing bracket is not part of it. */
          while (end > p && strchr (".,;:!?)]'", end[-1]) != NULL)
            end--;
          url = g_strndup (p, end - p);
          escaped = g_markup_escape_text (url, -1);
          g_string_append_printf (markup, "<a href=\"%s\">%s</a>", escaped, escaped);
          p = end;
        }
      else if (mention != NULL && strncmp (p, mention, mention_len) == 0 &&
               !(g_ascii_isalnum (p[mention_len]) || p[mention_len] == '_' ||
                 p[mention_len] == '.' || p[mention_len] == '-'))
        {
          g_autofree char *escaped = g_markup_escape_text (mention, -1);
          g_string_append_printf (markup, "<b>%s</b>", escaped);
          p += mention_len;
        }
      else
        {
          const char *next = g_utf8_next_char (p);
          g_autofree char *escaped = g_markup_escape_text (p, next - p);
          g_string_append (markup, escaped);
          p = next;
        }
    }

  return g_string_free (markup, FALSE);
}

/* GLib's local zone reads /etc/localtime again each time it is asked for
 * (a readlink and a stat), and the timeline asked twice per new row: one
 * looked up a minute ago still follows a change of zone soon enough. */
static GTimeZone *
get_local_zone (void)
{
  static GTimeZone *zone;
  static gint64 looked_up_us;
  gint64 now_us = g_get_monotonic_time ();

  if (zone == NULL || now_us - looked_up_us > 60 * G_USEC_PER_SEC)
    {
      g_clear_pointer (&zone, g_time_zone_unref);
      zone = g_time_zone_new_local ();
      looked_up_us = now_us;
    }
  return zone;
}

GDateTime *
natter_text_dup_local_datetime (gint64 ts_ms)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (ts_ms / 1000);

  if (utc == NULL)
    return NULL;
  return g_date_time_to_timezone (utc, get_local_zone ());
}

char *
natter_text_format_day (GDateTime *datetime)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) yesterday = g_date_time_add_days (now, -1);
  int y, m, d;

  g_date_time_get_ymd (datetime, &y, &m, &d);
  if (y == g_date_time_get_year (now) && m == g_date_time_get_month (now) &&
      d == g_date_time_get_day_of_month (now))
    return g_strdup (_("Today"));
  if (y == g_date_time_get_year (yesterday) && m == g_date_time_get_month (yesterday) &&
      d == g_date_time_get_day_of_month (yesterday))
    return g_strdup (_("Yesterday"));
  if (y == g_date_time_get_year (now))
    /* Translators: a day separator in the timeline, see g_date_time_format() */
    return g_date_time_format (datetime, _("%A, %B %e"));
  /* Translators: a day separator in the timeline, see g_date_time_format() */
  return g_date_time_format (datetime, _("%A, %B %e, %Y"));
}

char *
natter_text_format_time (GDateTime *datetime)
{
  return g_date_time_format (datetime, "%H:%M");
}

char *
natter_text_format_size (gint64 size)
{
  return g_format_size (size < 0 ? 0 : (guint64) size);
}

guint
natter_text_fuzzy_score (const char *needle,
                         const char *haystack)
{
  g_autofree char *n = NULL;
  g_autofree char *h = NULL;
  const char *hp, *np;
  guint score = 1;
  gboolean previous_matched = FALSE;

  if (needle == NULL || needle[0] == '\0')
    return 1;
  if (haystack == NULL)
    return 0;

  n = g_utf8_casefold (needle, -1);
  h = g_utf8_casefold (haystack, -1);

  if (g_str_has_prefix (h, n))
    return 1000 - MIN (strlen (h), 500);

  for (hp = h, np = n; *np != '\0' && *hp != '\0'; hp = g_utf8_next_char (hp))
    {
      if (g_utf8_get_char (hp) == g_utf8_get_char (np))
        {
          /* Runs of matching characters and matches at word starts count
           * more, as in editors' fuzzy finders. */
          score += previous_matched ? 10 : 3;
          if (hp == h || strchr (" -_.@+#", hp[-1]) != NULL)
            score += 8;
          previous_matched = TRUE;
          np = g_utf8_next_char (np);
        }
      else
        previous_matched = FALSE;
    }

  return *np == '\0' ? score : 0;
}

void
natter_text_apply_avatar (GtkLabel   *label,
                          const char *name)
{
  static const char *colors[] = { "avatar-blue", "avatar-cyan", "avatar-green", "avatar-yellow",
                                  "avatar-orange", "avatar-red", "avatar-purple", "avatar-brown" };
  const char *p = name != NULL ? name : "";
  char initial[8] = { 0 };
  gunichar c;

  /* "@alice+bob" and "#room" show the first letter, not the sigil. */
  while (*p != '\0' && !g_unichar_isalnum (g_utf8_get_char (p)))
    p = g_utf8_next_char (p);
  c = *p != '\0' ? g_unichar_toupper (g_utf8_get_char (p)) : '?';
  g_unichar_to_utf8 (c, initial);

  gtk_label_set_label (label, initial);
  if (gtk_label_get_attributes (label) == NULL)
    {
      /* Set here rather than in CSS, where a font family on this label
       * came out as a serif face. */
      PangoAttrList *attrs = pango_attr_list_new ();

      pango_attr_list_insert (attrs, pango_attr_family_new ("Sans"));
      pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
      gtk_label_set_attributes (label, attrs);
      pango_attr_list_unref (attrs);
    }
  for (guint i = 0; i < G_N_ELEMENTS (colors); i++)
    gtk_widget_remove_css_class (GTK_WIDGET (label), colors[i]);
  gtk_widget_add_css_class (GTK_WIDGET (label), "avatar");
  gtk_widget_add_css_class (GTK_WIDGET (label), colors[g_str_hash (name != NULL ? name : "") % G_N_ELEMENTS (colors)]);
}
