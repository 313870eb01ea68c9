/* natter-sign-in-page.h: server, user name and password; log in or create
 * an account, with the reason shown inline when it fails. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define NATTER_TYPE_SIGN_IN_PAGE (natter_sign_in_page_get_type ())

G_DECLARE_FINAL_TYPE (NatterSignInPage, natter_sign_in_page, NATTER, SIGN_IN_PAGE, GtkWidget)

void natter_sign_in_page_prefill (NatterSignInPage *self,
                                  const char       *server,
                                  const char       *user);
void natter_sign_in_page_focus   (NatterSignInPage *self);

G_END_DECLS
