/* natter-fault-proxy.h: a TCP proxy between clients and a server that
 * breaks the path the ways networks do, on the links open at the moment:
 * a blackhole (bytes stop both ways, the sockets stay open and no FIN or RST
 * ever comes: only heartbeats can notice), a reset (RST to both ends, via
 * SO_LINGER 0), or a delay of every chunk. tests/client's proxy
 * (natter-test-util.c) can only blackhole, and lets a FIN through a
 * blackholed link when the server gives up on it, which a real blackhole
 * would not; it lives in another folder, so this one is separate. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _NatterFaultProxy NatterFaultProxy;

NatterFaultProxy *natter_fault_proxy_new          (guint             target_port);
guint             natter_fault_proxy_get_port     (NatterFaultProxy *proxy);
/* Links forwarding (not blackholed, not closed). */
guint             natter_fault_proxy_get_n_live   (NatterFaultProxy *proxy);
/* Each live link is hit with probability @fraction (drawn from @rand);
 * returns how many were. */
guint             natter_fault_proxy_blackhole    (NatterFaultProxy *proxy,
                                                   GRand            *rand,
                                                   double            fraction);
guint             natter_fault_proxy_reset        (NatterFaultProxy *proxy,
                                                   GRand            *rand,
                                                   double            fraction);
/* Every chunk on the chosen links waits @delay_ms before it is passed on
 * (0 ends the delay on every link). */
guint             natter_fault_proxy_delay        (NatterFaultProxy *proxy,
                                                   GRand            *rand,
                                                   double            fraction,
                                                   guint             delay_ms);
void              natter_fault_proxy_free         (NatterFaultProxy *proxy);

G_END_DECLS
