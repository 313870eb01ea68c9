/* natter-chat-service.h: the chat of DESIGN.md on top of Socket.IO: the
 * token check on CONNECT, every client event with its ack, and the server
 * events (message, member, typing, presence). It owns no connection; the
 * server attaches each new one. */
#pragma once

#include "natter-connection.h"
#include "natter-hub.h"
#include "natter-limits.h"
#include "natter-store.h"
#include "natter-uploads.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CHAT_SERVICE (natter_chat_service_get_type ())

G_DECLARE_FINAL_TYPE (NatterChatService, natter_chat_service, NATTER, CHAT_SERVICE, GObject)

NatterChatService *natter_chat_service_new        (NatterStore              *store,
                                                   NatterHub                *hub,
                                                   const NatterServerConfig *config,
                                                   NatterMetrics            *metrics);

void               natter_chat_service_attach     (NatterChatService        *self,
                                                   NatterConnection         *connection);

/* Once set, a `send` with a file must name a finished upload of that room
 * (natter-uploads.c), with its size. */
void               natter_chat_service_set_uploads (NatterChatService     *self,
                                                    NatterUploads         *uploads);

/* Commits the sends waiting for their group commit now, and answers them
 * (before a shutdown closes the connections). */
void               natter_chat_service_flush      (NatterChatService        *self);

/* Sends DISCONNECT to every socket signed in with @token_hash and closes it. */
void               natter_chat_service_drop_token (NatterChatService        *self,
                                                   const char               *token_hash);

G_END_DECLS
