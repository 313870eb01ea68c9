/* natter-quick-switcher.h: Ctrl+K: type a few letters of a room's name,
 * Enter opens the best match. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_QUICK_SWITCHER (natter_quick_switcher_get_type ())

G_DECLARE_FINAL_TYPE (NatterQuickSwitcher, natter_quick_switcher, NATTER, QUICK_SWITCHER, AdwWindow)

NatterQuickSwitcher *natter_quick_switcher_new          (GtkWindow           *parent,
                                                         NatterSession       *session);
void                 natter_quick_switcher_set_query    (NatterQuickSwitcher *self,
                                                         const char          *query);
/* The matches, best first (GListModel of NatterRoom). */
GListModel          *natter_quick_switcher_get_matches  (NatterQuickSwitcher *self);

G_END_DECLS
