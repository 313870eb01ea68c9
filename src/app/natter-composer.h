/* natter-composer.h: where a message is written: Enter sends (or
 * Ctrl+Enter, as set in the preferences), Shift+Enter starts a new line;
 * emoji and attach buttons. Keeps a draft per room. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_COMPOSER (natter_composer_get_type ())

G_DECLARE_FINAL_TYPE (NatterComposer, natter_composer, NATTER, COMPOSER, GtkWidget)

void         natter_composer_set_room   (NatterComposer *self,
                                         NatterRoom     *room);
/* The text being written, newly allocated. */
char        *natter_composer_dup_text   (NatterComposer *self);
void         natter_composer_set_text   (NatterComposer *self,
                                         const char     *text);
void         natter_composer_grab_focus (NatterComposer *self);

G_END_DECLS
