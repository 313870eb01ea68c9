/* natter-preferences-window.h: notifications, Enter-to-send and the
 * account (sign out), bound to GSettings. */
#pragma once

#include <adwaita.h>

#include "natter-application.h"

G_BEGIN_DECLS

#define NATTER_TYPE_PREFERENCES_WINDOW (natter_preferences_window_get_type ())

G_DECLARE_FINAL_TYPE (NatterPreferencesWindow, natter_preferences_window, NATTER, PREFERENCES_WINDOW, AdwPreferencesWindow)

NatterPreferencesWindow *natter_preferences_window_new (NatterApplication *application);

G_END_DECLS
