/* natter-protocol-error.c: the error domain of every decoder. */
#include "natter-protocol-error.h"

G_DEFINE_QUARK (natter-protocol-error-quark, natter_protocol_error)
