/* natter-client.h: the one header of libnatter-client. No GTK in here:
 * the app and natter-cli both build on this API. */
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
