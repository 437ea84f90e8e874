/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc: virtual PCIe root complex port whose link is an Ethernet path to a
 * PCIe function hosted by a remote endpoint.
 */
#ifndef HW_VRC_VRC_H
#define HW_VRC_VRC_H

#include "hw/pci/pcie_port.h"
#include "net/net.h"
#include "qom/object.h"
#include "qemu/notify.h"
#include "qemu/timer.h"
#include "qapi/qapi-types-vrc.h"
#include "encap/readahead.h"
#include "encap/push.h"
#include "vrc-link.h"

#define TYPE_VRC "vrc"
OBJECT_DECLARE_SIMPLE_TYPE(VRCState, VRC)

/* Defaults of the link properties. */
#define VRC_DEFAULT_TIMEOUT_MS  100
#define VRC_DEFAULT_MTU         1500
#define VRC_DEFAULT_MRRS        4096
#define VRC_DEFAULT_KEEPALIVE_MS 500
#define VRC_DEFAULT_ACK_DELAY_US 300
#define VRC_DEFAULT_DISC_INTERVAL_MS 1000

/* User-set link configuration (properties); read-only after realize. */
typedef struct VRCLinkConf {
    MACAddr peer;           /* endpoint's MAC (raw Ethernet transport) */
    char *ifname;           /* host interface for raw Ethernet */
    char *socket;           /* unix socket path (alternative transport) */
    char *transport;        /* pcap:IF, unix:PATH or udp:HOST:PORT */
    char *spec;             /* the one given, as a transport spec: set by
                             * vrc_link_conf_check(), not a property */
    char *fallback;         /* ifname: the spec to use if spec does not open */
    uint16_t rc_id;         /* our identity on the wire */
    uint32_t timeout_ms;    /* completion timeout */
    uint32_t mtu;           /* link MTU, bytes */
    uint32_t mps;           /* Max Payload Size, 0 = largest the MTU allows */
    uint32_t mrrs;          /* Max Read Request Size */
    uint32_t poll_us;       /* spin for a completion this long, then sleep */
    char *secret;           /* id of the -object secret with the session key */
    uint32_t keepalive_ms;  /* PING an idle peer this often; 0: never */
    uint32_t ack_delay_us;  /* acknowledge a frame at most this late */
} VRCLinkConf;

typedef struct VRCFunction VRCFunction;

/*
 * The hot-plug slot of a vrc port (vrc-slot.c; docs/design.md "Slots").
 * Main loop, BQL held, except where said.
 */
typedef struct VRCSlot {
    VrcSlotState state;
    bool auto_reconnect;        /* look for a lost endpoint again */
    QEMUBH *bh;                 /* the session went up or down */
    QEMUTimer *retry;           /* connecting: HELLO again */
    Notifier machine_done;
    unsigned session;           /* vrc_link_session() the function is of */
    int64_t lost_ms;            /* when the function was lost, or -1 */
    int64_t removed_ms;         /* the last surprise removal */
    int64_t last_recovery_ms;   /* lost -> present again, or -1 */
    uint64_t hot_adds;
    uint64_t hot_removes;
    uint64_t surprise_removals;
} VRCSlot;

struct VRCState {
    PCIESlot parent_obj;

    VRCLinkConf conf;
    char *configd;              /* configd's socket: it fills the slot */
    int32_t configd_slot;       /* our slot index at configd; -1: in order */
    VRCLink *link;              /* the session to the endpoint */
    /*
     * On our secondary bus, devfn 0; NULL while the slot holds none.  Set
     * once realized, cleared before unrealize, both with the BQL.  The
     * receive thread reads it in an RCU read section: the object outlives
     * a grace period after it leaves the bus (the bus's reference goes
     * with call_rcu), though its config space does not.
     */
    VRCFunction *function;
    uint64_t no_function;       /* endpoint requests while there was none */
    VRCSlot slot;
    /* Below the function's BARs: what nothing decodes reads all-ones. */
    MemoryRegion ur_mem;
    MemoryRegion ur_io;
};

#define TYPE_VRC_FUNCTION "vrc-function"
OBJECT_DECLARE_SIMPLE_TYPE(VRCFunction, VRC_FUNCTION)

/* A BAR of the remote function, forwarded. */
typedef struct VRCBar {
    VRCFunction *fn;
    MemoryRegion mr;
    char *name;
    int index;
    bool io;
    uint64_t size;
} VRCBar;

struct VRCFunction {
    PCIDevice parent_obj;

    VRCState *port;             /* set by the port before realize */
    VRCBar bars[PCI_ROM_SLOT];
    /*
     * What the receive thread needs of config space, kept here: config
     * space is freed when the function is unrealized, which may happen
     * while the receive thread still holds the function.
     */
    uint8_t pin;                /* Interrupt Pin: 0 none, 1 INTA.. */
    bool master;                /* Bus Master Enable */

    /* Counters, updated with atomics from the receive thread. */
    uint64_t dma_refused;       /* DMA while Bus Master Enable was clear */
    uint64_t dma_errors;        /* DMA to an address nothing answers */
    uint64_t bad_requester;     /* requests with a Requester ID not ours */
    uint64_t unsupported;       /* Cfg/IO requests from the endpoint */
    uint64_t dma_loops;         /* endpoint DMA to this function: refused */

    /*
     * Doorbell pushes (encap/push.h, vrc-function.c): what the endpoint
     * read after each doorbell, as its HINTs said.  BQL.
     */
    struct encap_hints hints;
    uint64_t pushes;            /* PUSH messages sent */
    uint64_t chased;            /* ... with a chase's range */
    uint64_t hints_rx;          /* HINT messages taken */
};

/* Is @spec (a transport spec) raw Ethernet, where a peer is a MAC? */
static inline bool vrc_spec_is_ethernet(const char *spec)
{
    return g_str_has_prefix(spec, "pcap:") ||
           g_str_has_prefix(spec, "packet:") || g_str_has_prefix(spec, "xdp:");
}

/* vrc-slot.c */
void vrc_slot_init(VRCState *s, bool present, bool auto_reconnect);
void vrc_slot_fini(VRCState *s);
/* The session went up or down.  Any thread. */
void vrc_slot_link_changed(VRCState *s);
/* The function is being unrealized (the guest powered the slot off, a
 * surprise removal, or the machine ends). */
void vrc_slot_function_gone(VRCState *s);
bool vrc_slot_attach(VRCState *s, const MACAddr *peer, bool auto_reconnect,
                     Error **errp);
bool vrc_slot_detach(VRCState *s, bool surprise, Error **errp);
VrcSlotInfo *vrc_slot_info(VRCState *s);
VRCState *vrc_find(const char *id, Error **errp);
/* "xx:xx:xx:xx:xx:xx", with @with_function also "xx:...:xx.FN". */
bool vrc_parse_mac(const char *str, bool with_function, MACAddr *mac);

/* vrc-configd.c: register @s's slot with its configd. Main loop. */
bool vrc_configd_add(VRCState *s, Error **errp);
void vrc_configd_remove(VRCState *s);

struct encap_tlp;
/* A request from the endpoint, for the function in @s's slot, if any.
 * Receive thread. */
void vrc_function_request(VRCState *s, const struct encap_tlp *t);
/* The session with the endpoint ended.  Receive thread. */
void vrc_function_link_down(VRCState *s);

/*
 * If this process is a vrc-endpoint machine: its link, with its transport
 * (ifname or socket, in @conf) and the peer it was told to serve (@peer,
 * NULL for the first that says HELLO).  NULL otherwise.  BQL held.
 */
VRCLink *vrc_endpoint_link(const VRCLinkConf **conf, const char **peer);

/*
 * The maps of the VM's memory that the endpoint's hosted functions made,
 * summed over them (all zero in a process that is not an endpoint).
 * BQL held.
 */
typedef struct VRCMapStats {
    uint64_t maps;              /* served through a buffer */
    uint64_t bytes;
    uint64_t limited;           /* got less than asked: limit reached */
    uint64_t in_use;            /* bytes held now */
} VRCMapStats;
void vrc_endpoint_map_stats(VRCMapStats *st);

/* The endpoint's ownership (DISC), for query-vrc.  False if it has none. */
typedef struct VRCOwnerStats {
    uint64_t generation;        /* of function 0 */
    uint64_t assigns, releases, stale, hello_refused, sessions_ended;
} VRCOwnerStats;
bool vrc_endpoint_owner_stats(VRCOwnerStats *st);

/*
 * The hosted function's DMA reads: how many, and how many round trips they
 * took (with read-ahead, the cache's counters too).  False in a process
 * that is not an endpoint.  BQL held.
 */
typedef struct VRCEpDmaStats {
    uint64_t reads;             /* the function's DMA reads */
    uint64_t round_trips;       /* reads made over the link */
    bool read_ahead;
    struct encap_ra_stats ra;   /* with read_ahead */
    bool push;                  /* doorbell pushes (encap/push.h) */
    struct encap_offer_stats offer;
    uint64_t hints_sent;
    uint64_t chases;            /* chases learnt or moved */
    bool read_soon;             /* reads announced ahead (encap_soon) */
    struct encap_soon_stats soon;
} VRCEpDmaStats;
bool vrc_endpoint_dma_stats(VRCEpDmaStats *st);

/*
 * Check the link properties of a vrc (@initiator) or an endpoint; fills in
 * derived defaults (mps).  Main loop.
 */
bool vrc_link_conf_check(VRCLinkConf *c, bool initiator, Error **errp);

/*
 * The VRCLinkConfig of properties @c (strings are borrowed from @c), with
 * the session key of its 'secret' in *@key (NULL without one; free it with
 * vrc_link_config_free()).  False, with @errp set, if the secret cannot be
 * had or is no usable key.  Main loop.
 */
bool vrc_link_config(const VRCLinkConf *c, const char *name, bool initiator,
                     VRCLinkConfig *lc, Error **errp);
void vrc_link_config_free(VRCLinkConfig *lc);

#endif
