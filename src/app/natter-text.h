/* natter-text.h: turning message text into what a GtkLabel shows. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Pango markup for @text: escaped, with http(s) links made clickable and
 * "@user" mentions of @me in bold. Free with g_free(). */
char *natter_text_to_markup       (const char *text,
                                   const char *me);
/* @ts_ms (milliseconds since the epoch) in the local time zone, looked up
 * at most once a minute. Main thread only. Free with g_date_time_unref(). */
GDateTime *natter_text_dup_local_datetime (gint64 ts_ms);
/* "Today", "Yesterday" or the date, for a day separator. Free with g_free(). */
char *natter_text_format_day      (GDateTime  *datetime);
/* "12:34": the time of day of a message. Free with g_free(). */
char *natter_text_format_time     (GDateTime  *datetime);
/* "1.2 MB". Free with g_free(). */
char *natter_text_format_size     (gint64      size);
/* How well @needle matches @haystack as a fuzzy (in-order subsequence,
 * case-insensitive) search: 0 for no match, higher is better. */
guint natter_text_fuzzy_score     (const char *needle,
                                   const char *haystack);

/* Turns @label into a round avatar with @name's initial and a colour picked
 * from the name. Much cheaper than AdwAvatar, which costs a font instance
 * per widget: with 50 rooms that alone took seconds at start-up. */
void  natter_text_apply_avatar    (GtkLabel   *label,
                                   const char *name);

G_END_DECLS
