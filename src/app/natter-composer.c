/* natter-composer.c: the message editor. Enter is not intercepted before
 * the input method sees it: the key press only marks that the newline
 * about to be inserted should send instead, so committing a CJK preedit
 * with Enter never sends by accident. */

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "natter-app-private.h"
#include "natter-composer.h"

/* The server's limit for one message's text. */
#define MAX_TEXT_BYTES (16 * 1024)

struct _NatterComposer
{
  GtkWidget      parent_instance;

  GtkWidget     *box;
  GtkWidget     *attach_button;
  GtkTextView   *text_view;
  GtkLabel      *placeholder;
  GtkWidget     *emoji_button;
  GtkWidget     *send_button;

  GSettings     *settings;
  NatterRoom    *room;
  GHashTable    *drafts;
  guint          send_idle;
  gboolean       send_on_newline;
  gboolean       setting_text;
};

G_DEFINE_FINAL_TYPE (NatterComposer, natter_composer, GTK_TYPE_WIDGET)

static GtkTextBuffer *
get_buffer (NatterComposer *self)
{
  return gtk_text_view_get_buffer (self->text_view);
}

char *
natter_composer_dup_text (NatterComposer *self)
{
  GtkTextIter start, end;

  g_return_val_if_fail (NATTER_IS_COMPOSER (self), NULL);

  gtk_text_buffer_get_bounds (get_buffer (self), &start, &end);
  return gtk_text_buffer_get_text (get_buffer (self), &start, &end, FALSE);
}

void
natter_composer_set_text (NatterComposer *self,
                          const char     *text)
{
  g_return_if_fail (NATTER_IS_COMPOSER (self));

  self->setting_text = TRUE;
  gtk_text_buffer_set_text (get_buffer (self), text != NULL ? text : "", -1);
  self->setting_text = FALSE;
}

void
natter_composer_grab_focus (NatterComposer *self)
{
  g_return_if_fail (NATTER_IS_COMPOSER (self));
  gtk_widget_grab_focus (GTK_WIDGET (self->text_view));
}

static void
send_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  NatterComposer *self = NATTER_COMPOSER (widget);
  g_autofree char *text = natter_composer_dup_text (self);
  g_autoptr(NatterMessage) message = NULL;

  g_strchomp (text);
  if (self->room == NULL || text[0] == '\0')
    return;

  if (strlen (text) > MAX_TEXT_BYTES)
    {
      GtkWidget *overlay = gtk_widget_get_ancestor (widget, ADW_TYPE_TOAST_OVERLAY);

      if (overlay != NULL)
        adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay),
                                     adw_toast_new (_("This message is too long to send")));
      return;
    }

  message = natter_room_send_text (self->room, text);
  natter_composer_set_text (self, "");
  natter_room_set_typing (self->room, FALSE);
}

static void
on_emoji_picked (NatterComposer *self,
                 const char     *emoji)
{
  gtk_text_buffer_insert_at_cursor (get_buffer (self), emoji, -1);
  gtk_widget_grab_focus (GTK_WIDGET (self->text_view));
}

/* The emoji chooser lays out thousands of glyphs: built on first use, not
 * with every window (that alone cost seconds at start-up). */
static void
create_emoji_chooser (GtkMenuButton *button,
                      gpointer       user_data)
{
  NatterComposer *self = user_data;
  GtkWidget *chooser;

  if (gtk_menu_button_get_popover (button) != NULL)
    return;
  chooser = gtk_emoji_chooser_new ();
  g_signal_connect_swapped (chooser, "emoji-picked", G_CALLBACK (on_emoji_picked), self);
  gtk_menu_button_set_popover (button, chooser);
}

/* Pasting an image */

/* Pasted images older than this are deleted at the next paste: by then
 * they were sent, or never will be. */
#define PASTED_KEEP_SECONDS (7 * 24 * 60 * 60)

static void
delete_old_pasted (const char *dir)
{
  g_autoptr(GDir) entries = g_dir_open (dir, 0, NULL);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *name;

  while (entries != NULL && (name = g_dir_read_name (entries)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      GStatBuf buf;

      if (g_stat (path, &buf) == 0 && now - buf.st_mtime > PASTED_KEEP_SECONDS)
        g_unlink (path);
    }
}

static void
save_png_thread (GTask        *task,
                 gpointer      source,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  GdkTexture *texture = task_data;
  const char *path = g_object_get_data (G_OBJECT (task), "path");
  g_autofree char *dir = g_path_get_dirname (path);

  g_mkdir_with_parents (dir, 0700);
  delete_old_pasted (dir);
  if (gdk_texture_save_to_png (texture, path))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                             _("Could not save the pasted image"));
}

static void
save_png_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  NatterComposer *self = NATTER_COMPOSER (source);
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      GtkWidget *overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);

      if (overlay != NULL)
        adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (error->message));
      return;
    }
  /* The room view asks before sending, as for a chosen file. */
  gtk_widget_activate_action (GTK_WIDGET (self), "room.send-file", "s",
                              g_object_get_data (G_OBJECT (result), "path"));
}

static void
read_texture_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterComposer) self = user_data;
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autoptr(GTask) task = NULL;
  g_autofree char *stamp = NULL;
  g_autofree char *name = NULL;
  g_autofree char *file_name = NULL;

  texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (source), result, &error);
  if (texture == NULL || self->room == NULL)
    return;

  /* The image becomes a PNG file in the cache, named so that the people in
   * the room can tell what it is; encoding is not done on the main thread. */
  now = g_date_time_new_now_local ();
  stamp = g_date_time_format (now, "%Y-%m-%d %H-%M-%S");
  /* Translators: the file name of an image pasted into the composer, %s is the date and time */
  name = g_strdup_printf (_("Pasted image %s"), stamp);
  g_strdelimit (name, "/\\", '-');
  file_name = g_strconcat (name, ".png", NULL);

  task = g_task_new (self, NULL, save_png_cb, NULL);
  g_task_set_task_data (task, g_steal_pointer (&texture), g_object_unref);
  g_object_set_data_full (G_OBJECT (task), "path",
                          g_build_filename (g_get_user_cache_dir (), "natter", "pasted", file_name, NULL),
                          g_free);
  g_task_run_in_thread (task, save_png_thread);
}

/* Ctrl+V with an image and no text on the clipboard (a screenshot, an image
 * copied in a browser) sends the image; text pastes as text as before. */
static void
on_paste_clipboard (NatterComposer *self,
                    GtkTextView    *text_view)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (text_view));
  g_autoptr(GdkContentFormats) formats = NULL;

  if (self->room == NULL)
    return;
  formats = gdk_content_formats_union_deserialize_gtypes (gdk_content_formats_ref (gdk_clipboard_get_formats (clipboard)));
  if (!gdk_content_formats_contain_gtype (formats, GDK_TYPE_TEXTURE) ||
      gdk_content_formats_contain_gtype (formats, G_TYPE_STRING))
    return;

  g_signal_stop_emission_by_name (text_view, "paste-clipboard");
  gdk_clipboard_read_texture_async (clipboard, NULL, read_texture_cb, g_object_ref (self));
}

static gboolean
on_key_pressed (NatterComposer        *self,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                GtkEventControllerKey *controller)
{
  gboolean enter_sends = g_settings_get_boolean (self->settings, "enter-sends");
  GdkModifierType mods = state & gtk_accelerator_get_default_mod_mask ();

  self->send_on_newline = FALSE;
  if (keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter || keyval == GDK_KEY_ISO_Enter)
    {
      if (enter_sends && mods == 0)
        self->send_on_newline = TRUE;
      else if (!enter_sends && mods == GDK_CONTROL_MASK)
        {
          gtk_widget_activate_action (GTK_WIDGET (self), "composer.send", NULL);
          return GDK_EVENT_STOP;
        }
    }
  return GDK_EVENT_PROPAGATE;
}

static gboolean
send_idle_cb (gpointer user_data)
{
  NatterComposer *self = user_data;

  self->send_idle = 0;
  gtk_widget_activate_action (GTK_WIDGET (self), "composer.send", NULL);
  return G_SOURCE_REMOVE;
}

static void
on_insert_text (NatterComposer *self,
                GtkTextIter    *location,
                const char     *text,
                int             len,
                GtkTextBuffer  *buffer)
{
  if (self->send_on_newline && g_strcmp0 (text, "\n") == 0)
    {
      self->send_on_newline = FALSE;
      g_signal_stop_emission_by_name (buffer, "insert-text");
      /* Not from inside the buffer's signal: sending clears the buffer. */
      if (self->send_idle == 0)
        self->send_idle = g_idle_add (send_idle_cb, self);
    }
  self->send_on_newline = FALSE;
}

static void
on_buffer_changed (NatterComposer *self)
{
  GtkTextIter start, end;
  gboolean empty;

  gtk_text_buffer_get_bounds (get_buffer (self), &start, &end);
  empty = gtk_text_iter_equal (&start, &end);
  gtk_widget_set_visible (GTK_WIDGET (self->placeholder), empty);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "composer.send", !empty && self->room != NULL);
  if (self->room != NULL && !self->setting_text)
    natter_room_set_typing (self->room, !empty);
}

void
natter_composer_set_room (NatterComposer *self,
                          NatterRoom     *room)
{
  g_return_if_fail (NATTER_IS_COMPOSER (self));

  if (self->room == room)
    return;

  if (self->room != NULL)
    {
      g_autofree char *draft = natter_composer_dup_text (self);

      if (draft[0] != '\0')
        g_hash_table_insert (self->drafts, g_strdup (natter_room_get_name (self->room)),
                             g_steal_pointer (&draft));
      else
        g_hash_table_remove (self->drafts, natter_room_get_name (self->room));
    }

  g_set_object (&self->room, room);

  natter_composer_set_text (self, room != NULL ? g_hash_table_lookup (self->drafts, natter_room_get_name (room)) : NULL);
  if (room != NULL)
    {
      /* Translators: the composer's placeholder, %s is a room or a person */
      g_autofree char *placeholder = g_strdup_printf (_("Message %s"), natter_room_get_display_name (room));
      gtk_label_set_label (self->placeholder, placeholder);
    }
  on_buffer_changed (self);
}

static void
natter_composer_dispose (GObject *object)
{
  NatterComposer *self = NATTER_COMPOSER (object);

  g_clear_handle_id (&self->send_idle, g_source_remove);
  g_clear_object (&self->room);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_COMPOSER);
  G_OBJECT_CLASS (natter_composer_parent_class)->dispose (object);
}

static void
natter_composer_finalize (GObject *object)
{
  NatterComposer *self = NATTER_COMPOSER (object);

  g_clear_pointer (&self->drafts, g_hash_table_unref);
  G_OBJECT_CLASS (natter_composer_parent_class)->finalize (object);
}

static void
natter_composer_class_init (NatterComposerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_composer_dispose;
  object_class->finalize = natter_composer_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-composer.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterComposer, box);
  gtk_widget_class_bind_template_child (widget_class, NatterComposer, attach_button);
  gtk_widget_class_bind_template_child (widget_class, NatterComposer, text_view);
  gtk_widget_class_bind_template_child (widget_class, NatterComposer, placeholder);
  gtk_widget_class_bind_template_child (widget_class, NatterComposer, emoji_button);
  gtk_widget_class_bind_template_child (widget_class, NatterComposer, send_button);

  gtk_widget_class_install_action (widget_class, "composer.send", NULL, send_action);

  gtk_widget_class_set_css_name (widget_class, "composer");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_composer_init (NatterComposer *self)
{
  GtkEventController *controller;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new ("io.github.natter.Natter");
  self->drafts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  controller = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect_swapped (controller, "key-pressed", G_CALLBACK (on_key_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self->text_view), controller);

  g_signal_connect_swapped (self->text_view, "paste-clipboard", G_CALLBACK (on_paste_clipboard), self);
  g_signal_connect_swapped (get_buffer (self), "insert-text", G_CALLBACK (on_insert_text), self);
  g_signal_connect_swapped (get_buffer (self), "changed", G_CALLBACK (on_buffer_changed), self);

  gtk_menu_button_set_create_popup_func (GTK_MENU_BUTTON (self->emoji_button),
                                         create_emoji_chooser, self, NULL);
  on_buffer_changed (self);
}

/* Test hook, see natter-app-private.h: the key press goes through the same
 * controller callback, then does what GtkTextView does with Enter. */
void
_natter_composer_press_enter (NatterComposer  *self,
                              GdkModifierType  state)
{
  if (on_key_pressed (self, GDK_KEY_Return, 0, state, NULL) == GDK_EVENT_PROPAGATE)
    g_signal_emit_by_name (self->text_view, "insert-at-cursor", "\n");
}

/* Test hook: what Ctrl+V in the text view does. */
void
_natter_composer_paste (NatterComposer *self)
{
  g_signal_emit_by_name (self->text_view, "paste-clipboard");
}
