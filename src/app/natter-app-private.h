/* natter-app-private.h: what the UI tests in tests/app reach into, so they
 * can drive the real widgets without synthesizing pointer events. */
#pragma once

#include "natter-composer.h"
#include "natter-connection-banner.h"
#include "natter-file-row.h"
#include "natter-room-view.h"
#include "natter-sign-in-page.h"
#include "natter-window.h"

G_BEGIN_DECLS

/* "sign-in" or "main" */
const char             *_natter_window_get_page          (NatterWindow     *self);
NatterSignInPage       *_natter_window_get_sign_in_page  (NatterWindow     *self);
NatterRoomView         *_natter_window_get_room_view     (NatterWindow     *self);
GtkWidget              *_natter_window_get_room_list     (NatterWindow     *self);

void                    _natter_sign_in_page_fill        (NatterSignInPage *self,
                                                          const char       *server,
                                                          const char       *user,
                                                          const char       *password);
/* The inline error shown, or NULL. */
const char             *_natter_sign_in_page_get_error   (NatterSignInPage *self);
gboolean                _natter_sign_in_page_get_busy    (NatterSignInPage *self);

/* Enter (with @state modifiers) as the composer's key handler sees it. */
void                    _natter_composer_press_enter     (NatterComposer   *self,
                                                          GdkModifierType   state);

/* Ctrl+V in the composer's text view. */
void                    _natter_composer_paste           (NatterComposer   *self);

NatterComposer         *_natter_room_view_get_composer   (NatterRoomView   *self);
NatterConnectionBanner *_natter_room_view_get_banner     (NatterRoomView   *self);
/* The header's unsent counter ("2 unsent"), or NULL when hidden. */
const char             *_natter_room_view_get_unsent     (NatterRoomView   *self);
GtkWidget              *_natter_room_view_get_timeline_view (NatterRoomView *self);
/* "opening" (no room said yet), "empty" (told there is none) or "room". */
const char             *_natter_room_view_get_page       (NatterRoomView   *self);
/* The typing line as shown ("" when nobody types). */
const char             *_natter_room_view_get_typing     (NatterRoomView   *self);
/* The files being sent (GListModel of NatterTransfer), shown above the composer. */
GListModel             *_natter_room_view_get_uploads    (NatterRoomView   *self);
/* What a file row shows: the name, and the size, progress or failure. */
const char             *_natter_file_row_get_name        (NatterFileRow    *self);
const char             *_natter_file_row_get_detail      (NatterFileRow    *self);
/* The inline thumbnail shown, or NULL. */
GdkPaintable           *_natter_file_row_get_thumbnail   (NatterFileRow    *self);
/* Sends @file to the room in view, as the attach button and a drop do. */
void                    _natter_room_view_upload_file    (NatterRoomView   *self,
                                                          GFile            *file);

G_END_DECLS
