/* natter-protocol-error.h: the error domain of every decoder. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NATTER_PROTOCOL_ERROR (natter_protocol_error_quark ())

typedef enum
{
  NATTER_PROTOCOL_ERROR_EMPTY,        /* nothing to decode */
  NATTER_PROTOCOL_ERROR_BAD_TYPE,     /* unknown packet type */
  NATTER_PROTOCOL_ERROR_BAD_FORMAT,   /* the header or framing is wrong */
  NATTER_PROTOCOL_ERROR_BAD_JSON,     /* the payload is not the JSON it must be */
  NATTER_PROTOCOL_ERROR_TOO_DEEP,     /* JSON nested deeper than allowed */
  NATTER_PROTOCOL_ERROR_TOO_LARGE,    /* over a size or count limit */
  NATTER_PROTOCOL_ERROR_UNEXPECTED,   /* valid alone, wrong at this point */
} NatterProtocolError;

GQuark natter_protocol_error_quark (void);

G_END_DECLS
