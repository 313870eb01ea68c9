/* natter-protocol.h: the one header to include for the wire codecs.
 * Nothing under src/protocol/ does I/O: these are pure functions and small
 * value types shared by the server, the client library and the tests. */
#pragma once

#include "natter-protocol-error.h"
#include "natter-json.h"
#include "natter-eio-packet.h"
#include "natter-eio-open.h"
#include "natter-sio-packet.h"
#include "natter-sio-decoder.h"
#include "natter-chat.h"
#include "natter-chat-message.h"
