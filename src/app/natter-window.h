/* natter-window.h: the main window: the sign-in page, or the room list and
 * the room in view side by side (an AdwLeaflet that folds when narrow). */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

#include "natter-application.h"

G_BEGIN_DECLS

#define NATTER_TYPE_WINDOW (natter_window_get_type ())

G_DECLARE_FINAL_TYPE (NatterWindow, natter_window, NATTER, WINDOW, AdwApplicationWindow)

NatterWindow *natter_window_new       (NatterApplication *application);
/* The room in view, or NULL. */
NatterRoom   *natter_window_get_room  (NatterWindow      *self);
/* Shows the joined room called @name; FALSE if there is none. */
gboolean      natter_window_open_room (NatterWindow      *self,
                                       const char        *name);
void          natter_window_add_toast (NatterWindow      *self,
                                       const char        *text);

G_END_DECLS
