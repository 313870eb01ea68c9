/* natter-sign-in-page.c: signs in (or registers) with a fresh session and
 * hands it to the application once the server said yes. */

#include <glib/gi18n.h>
#include <natter-client.h>

#include "natter-app-private.h"
#include "natter-application.h"
#include "natter-sign-in-page.h"

struct _NatterSignInPage
{
  GtkWidget      parent_instance;

  GtkWidget     *box;
  AdwEntryRow   *server_row;
  AdwEntryRow   *user_row;
  AdwEntryRow   *password_row;
  GtkRevealer   *error_revealer;
  GtkLabel      *error_label;
  GtkStack      *log_in_stack;
  GtkSpinner    *spinner;

  GCancellable  *cancellable;
  NatterSession *session;
  gboolean       registering;
};

G_DEFINE_FINAL_TYPE (NatterSignInPage, natter_sign_in_page, GTK_TYPE_WIDGET)

static void
show_error (NatterSignInPage *self,
            const char       *message)
{
  if (message != NULL)
    gtk_label_set_label (self->error_label, message);
  gtk_revealer_set_reveal_child (self->error_revealer, message != NULL);
}

static gboolean
is_busy (NatterSignInPage *self)
{
  return self->session != NULL;
}

static void
update_actions (NatterSignInPage *self)
{
  gboolean ready = !is_busy (self) &&
                   gtk_editable_get_text (GTK_EDITABLE (self->server_row))[0] != '\0' &&
                   gtk_editable_get_text (GTK_EDITABLE (self->user_row))[0] != '\0' &&
                   gtk_editable_get_text (GTK_EDITABLE (self->password_row))[0] != '\0';

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "sign-in.log-in", ready);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "sign-in.register", ready);
}

static void
set_busy (NatterSignInPage *self,
          NatterSession    *session)
{
  gboolean busy = session != NULL;

  g_set_object (&self->session, session);
  gtk_widget_set_sensitive (GTK_WIDGET (self->server_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->user_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->password_row), !busy);
  gtk_spinner_set_spinning (self->spinner, busy);
  gtk_stack_set_visible_child_name (self->log_in_stack, busy ? "spinner" : "label");
  update_actions (self);
}

static void
on_changed (NatterSignInPage *self)
{
  update_actions (self);
}

static void
on_entry_activated (NatterSignInPage *self)
{
  if (gtk_widget_is_focus (GTK_WIDGET (self->password_row)) ||
      gtk_widget_get_focus_child (GTK_WIDGET (self->password_row)) != NULL)
    gtk_widget_activate_action (GTK_WIDGET (self), "sign-in.log-in", NULL);
  else if (gtk_widget_get_focus_child (GTK_WIDGET (self->server_row)) != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (self->user_row));
  else
    gtk_widget_grab_focus (GTK_WIDGET (self->password_row));
}

static const char *
describe_error (NatterSignInPage *self,
                const GError     *error)
{
  if (error->domain == NATTER_CLIENT_ERROR)
    {
      switch ((NatterClientError) error->code)
        {
        case NATTER_CLIENT_ERROR_BAD_CREDENTIALS:
          return _("Wrong user name or password.");
        case NATTER_CLIENT_ERROR_UNREACHABLE:
          return _("The server cannot be reached. Check the address and your network connection.");
        case NATTER_CLIENT_ERROR_USER_TAKEN:
          return _("This user name is taken. Choose another one, or log in.");
        case NATTER_CLIENT_ERROR_NO_SECRET_SERVICE:
          return _("Natter keeps your sign-in in the keyring, but no keyring service is running.");
        case NATTER_CLIENT_ERROR_BAD_RESPONSE:
          return _("This does not look like a Natter server.");
        case NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE:
          /* The library's sentence names the host and the reason; there is
           * nothing to click past on purpose. */
          return error->message;
        case NATTER_CLIENT_ERROR_FAILED:
        case NATTER_CLIENT_ERROR_SIGNED_OUT:
        case NATTER_CLIENT_ERROR_DISCONNECTED:
        case NATTER_CLIENT_ERROR_TIMED_OUT:
        case NATTER_CLIENT_ERROR_NOT_ONLINE:
        case NATTER_CLIENT_ERROR_CACHE:
        default:
          break;
        }
    }
  return error->message;
}

static void
sign_in_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(NatterSignInPage) self = user_data;
  NatterSession *session = NATTER_SESSION (object);
  g_autoptr(GError) error = NULL;
  gboolean ok;
  GtkRoot *root;

  if (self->registering)
    ok = natter_session_register_finish (session, result, &error);
  else
    ok = natter_session_login_finish (session, result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->session != session)
    return;

  if (!ok)
    {
      set_busy (self, NULL);
      show_error (self, describe_error (self, error));
      if (g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_USER_TAKEN))
        gtk_widget_grab_focus (GTK_WIDGET (self->user_row));
      else if (g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE) ||
               g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE))
        gtk_widget_grab_focus (GTK_WIDGET (self->server_row));
      else
        gtk_widget_grab_focus (GTK_WIDGET (self->password_row));
      return;
    }

  g_object_ref (session);
  set_busy (self, NULL);
  gtk_editable_set_text (GTK_EDITABLE (self->password_row), "");
  root = gtk_widget_get_root (GTK_WIDGET (self));
  if (GTK_IS_WINDOW (root))
    natter_application_set_session (NATTER_APPLICATION (gtk_window_get_application (GTK_WINDOW (root))),
                                    session);
  g_object_unref (session);
}

static gboolean
valid_user_name (const char *user)
{
  gsize len = strlen (user);

  if (len == 0 || len > 32)
    return FALSE;
  for (const char *p = user; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_' || *p == '.' || *p == '-'))
      return FALSE;
  return TRUE;
}

static void
start_sign_in (NatterSignInPage *self,
               gboolean          registering)
{
  g_autoptr(NatterSession) session = NULL;
  g_autofree char *server = NULL;
  const char *user;
  const char *password;
  GtkRoot *root;

  if (is_busy (self))
    return;

  server = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->server_row))));
  user = gtk_editable_get_text (GTK_EDITABLE (self->user_row));
  password = gtk_editable_get_text (GTK_EDITABLE (self->password_row));

  if (!g_str_has_prefix (server, "http://") && !g_str_has_prefix (server, "https://"))
    {
      show_error (self, _("Enter the server address with http:// or https://, for example https://chat.example.org."));
      gtk_widget_grab_focus (GTK_WIDGET (self->server_row));
      return;
    }
  if (!valid_user_name (user))
    {
      show_error (self, _("A user name has 1 to 32 characters: lowercase letters, digits, “_”, “.” and “-”."));
      gtk_widget_grab_focus (GTK_WIDGET (self->user_row));
      return;
    }

  root = gtk_widget_get_root (GTK_WIDGET (self));
  g_return_if_fail (GTK_IS_WINDOW (root));
  session = natter_application_create_session (NATTER_APPLICATION (gtk_window_get_application (GTK_WINDOW (root))),
                                               server, user);
  show_error (self, NULL);
  self->registering = registering;
  set_busy (self, session);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  if (registering)
    natter_session_register_async (session, password, self->cancellable, sign_in_cb, g_object_ref (self));
  else
    natter_session_login_async (session, password, self->cancellable, sign_in_cb, g_object_ref (self));
}

static void
log_in_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  start_sign_in (NATTER_SIGN_IN_PAGE (widget), FALSE);
}

static void
register_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  start_sign_in (NATTER_SIGN_IN_PAGE (widget), TRUE);
}

void
natter_sign_in_page_prefill (NatterSignInPage *self,
                             const char       *server,
                             const char       *user)
{
  g_return_if_fail (NATTER_IS_SIGN_IN_PAGE (self));

  if (server != NULL && server[0] != '\0')
    gtk_editable_set_text (GTK_EDITABLE (self->server_row), server);
  if (user != NULL && user[0] != '\0')
    gtk_editable_set_text (GTK_EDITABLE (self->user_row), user);
}

void
natter_sign_in_page_focus (NatterSignInPage *self)
{
  g_return_if_fail (NATTER_IS_SIGN_IN_PAGE (self));

  if (gtk_editable_get_text (GTK_EDITABLE (self->server_row))[0] == '\0')
    gtk_widget_grab_focus (GTK_WIDGET (self->server_row));
  else if (gtk_editable_get_text (GTK_EDITABLE (self->user_row))[0] == '\0')
    gtk_widget_grab_focus (GTK_WIDGET (self->user_row));
  else
    gtk_widget_grab_focus (GTK_WIDGET (self->password_row));
}

static void
natter_sign_in_page_dispose (GObject *object)
{
  NatterSignInPage *self = NATTER_SIGN_IN_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_SIGN_IN_PAGE);
  G_OBJECT_CLASS (natter_sign_in_page_parent_class)->dispose (object);
}

static void
natter_sign_in_page_class_init (NatterSignInPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_sign_in_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-sign-in-page.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, box);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, server_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, user_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, password_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, error_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, log_in_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInPage, spinner);
  gtk_widget_class_bind_template_callback (widget_class, on_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_activated);

  gtk_widget_class_install_action (widget_class, "sign-in.log-in", NULL, log_in_action);
  gtk_widget_class_install_action (widget_class, "sign-in.register", NULL, register_action);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_sign_in_page_init (NatterSignInPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  update_actions (self);
}

/* Test hooks, see natter-app-private.h */

void
_natter_sign_in_page_fill (NatterSignInPage *self,
                           const char       *server,
                           const char       *user,
                           const char       *password)
{
  gtk_editable_set_text (GTK_EDITABLE (self->server_row), server);
  gtk_editable_set_text (GTK_EDITABLE (self->user_row), user);
  gtk_editable_set_text (GTK_EDITABLE (self->password_row), password);
}

const char *
_natter_sign_in_page_get_error (NatterSignInPage *self)
{
  if (!gtk_revealer_get_reveal_child (self->error_revealer))
    return NULL;
  return gtk_label_get_label (self->error_label);
}

gboolean
_natter_sign_in_page_get_busy (NatterSignInPage *self)
{
  return is_busy (self);
}
