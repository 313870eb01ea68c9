/* natter-application.h: the app object. It owns the settings and the one
 * NatterSession, and the app-wide actions (open a room, preferences, sign
 * out) that menus, shortcuts and notifications use. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_APPLICATION (natter_application_get_type ())

G_DECLARE_FINAL_TYPE (NatterApplication, natter_application, NATTER, APPLICATION, AdwApplication)

/* Call before GTK opens the display (main() and the benchmark do). */
void               natter_application_prepare_display (void);
NatterApplication *natter_application_new          (const char        *server);

GSettings         *natter_application_get_settings (NatterApplication *self);
/* The session of the signed-in account, or NULL on the sign-in page. */
NatterSession     *natter_application_get_session  (NatterApplication *self);
/* Takes over a session that has just signed in: remembers the server and
 * user, starts it and shows the rooms. NULL returns to the sign-in page. */
void               natter_application_set_session  (NatterApplication *self,
                                                    NatterSession     *session);
/* A new session for @server and @user, with the app's token store. */
NatterSession     *natter_application_create_session (NatterApplication *self,
                                                      const char        *server,
                                                      const char        *user);
/* The server given with --server, or NULL. */
const char        *natter_application_get_server_option (NatterApplication *self);

G_END_DECLS
