/* natter-http-api.h: the JSON HTTP API under /api/v1/: register, login,
 * logout and health. (Resumable uploads, /api/v1/uploads and
 * /api/v1/files/{id}, are a later issue: they get their own type and are
 * routed from natter_http_api_handle().) */
#pragma once

#include <libsoup/soup.h>

#include "natter-chat-service.h"
#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_HTTP_API (natter_http_api_get_type ())

G_DECLARE_FINAL_TYPE (NatterHttpApi, natter_http_api, NATTER, HTTP_API, GObject)

NatterHttpApi *natter_http_api_new      (NatterStore              *store,
                                         NatterChatService        *chat,
                                         const NatterServerConfig *config);

void           natter_http_api_handle   (NatterHttpApi            *self,
                                         SoupServerMessage        *msg,
                                         const char               *path);

/* Requests still hashing answer 503 from now on. */
void           natter_http_api_shutdown (NatterHttpApi            *self);

/* Shared by every JSON answer of the server: {"error":CODE,"message":TEXT}. */
void           natter_http_reply_error  (SoupServerMessage        *msg,
                                         guint                     status,
                                         const char               *code,
                                         const char               *message);
void           natter_http_reply_json   (SoupServerMessage        *msg,
                                         guint                     status,
                                         JsonObject               *object);

G_END_DECLS
