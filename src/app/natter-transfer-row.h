/* natter-transfer-row.h: a file on its way up: name, a progress bar, and
 * Cancel (or the reason it failed, Retry and Dismiss). */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_TRANSFER_ROW (natter_transfer_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterTransferRow, natter_transfer_row, NATTER, TRANSFER_ROW, GtkWidget)

NatterTransferRow *natter_transfer_row_new          (void);
void               natter_transfer_row_set_transfer (NatterTransferRow *self,
                                                     NatterTransfer    *transfer);

G_END_DECLS
