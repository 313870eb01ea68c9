/* natter-client.h: the one header of libnatter-client. No GTK in here:
 * the app and natter-cli both build on this API.
 *
 *   session = natter_session_new (server_url, user);   // Secret Service token
 *   natter_session_login_async (session, password, …); // once, on the sign-in page
 *   natter_session_start (session, &error);            // cached rooms appear now
 *   rooms = natter_session_get_rooms (session);        // GListModel of NatterRoom
 *   timeline = natter_room_get_timeline (room);        // GListModel of NatterMessage
 *   msg = natter_room_send_text (room, text);          // pending at once, then sent
 *
 * Bind to NatterSession:state/:retry-at/:pending for the connection banner,
 * NatterRoom:unread/:mentions/:typing-text for rows, NatterMessage:state for
 * the pending/failed marks; natter_timeline_load_older_async() at the top
 * edge. Everything runs on the thread-default main context of the caller. */
#pragma once

#define NATTER_CLIENT_INSIDE
#include "natter-client-types.h"
#include "natter-client-enums.h"
#include "natter-member.h"
#include "natter-message.h"
#include "natter-timeline.h"
#include "natter-room.h"
#include "natter-session.h"
#include "natter-transfer.h"
#undef NATTER_CLIENT_INSIDE
