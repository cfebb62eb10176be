/* fuzz_ops_log.h — abi_fuzz's dirty-log ops, readers, misuse with NULL or foreign handles, and
 * hvrt_bitmap_next_set. */
#ifndef HVRT_FUZZ_OPS_LOG_H
#define HVRT_FUZZ_OPS_LOG_H
#include "fuzz_ops_memory.h"

/* ---- dirty log ---- */

static uint32_t pick_dirty_slot(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 200 && M.slots.n) {
        const struct kd_slot *s = &M.slots.s[b % M.slots.n];
        return s->as << 16 | s->id;
    }
    return pick_slot(in);
}

/* -EINVAL / -ENOENT / 0 and the slot's npages, as KVM looks a dirty-log slot up. */
static int dirty_lookup(uint32_t slot, struct fm_dirty **d, uint64_t *npages)
{
    uint32_t as = slot >> 16, id = slot & 0xffff;
    if (as >= M.rules.nr_as || id >= M.rules.max_slots)
        return -EINVAL;
    const struct kd_slot *s = kd_find_id(&M.slots, as, id);
    *d = s ? fm_dirty_of(&M, as, id) : NULL;
    *npages = s ? s->npages : 0;
    return *d ? 0 : -ENOENT;
}

/* The last hvrt_dirty_log_get_view: hvrt.h promises it stays unchanged until the next get,
 * get_view or clear of its slot, a change of the slot, or hvrt_vm_destroy. */
static struct {
    int active;
    uint32_t slot;
    const uint64_t *p;
    size_t n;
    uint64_t w[FM_DIRTY_WORDS];
} g_view;

static void view_end(uint32_t slot)
{
    if (g_view.active && g_view.slot == slot)
        g_view.active = 0;
}
static void view_on_change(uint32_t as, uint32_t id) { view_end(as << 16 | id); }

static void check_view(void)
{
    if (g_view.active)
        EXPECT(!memcmp(g_view.p, g_view.w, g_view.n * 8), "the dirty-log view of slot 0x%x changed while hvrt.h "
               "says it stays valid and unchanged (no get/get_view/clear of the slot, no change of it since)", g_view.slot);
}

static void op_dirty_get(struct in *in, int op, int view)
{
    uint32_t slot = pick_dirty_slot(in);
    view_end(slot);
    int null_bm = u8(in) >= 245;
    static uint64_t buf[FM_DIRTY_WORDS + 2];
    const uint64_t *vp = (const uint64_t *)0x1;
    memset(buf, 0xa5, sizeof buf);
    struct fm_dirty *d;
    uint64_t np;
    int want = dirty_lookup(slot, &d, &np);
    if (want == 0 && null_bm)
        want = -EFAULT;
    int rc = view ? hvrt_dirty_log_get_view(g_vm, slot, null_bm ? NULL : &vp)
                  : hvrt_dirty_log_get(g_vm, slot, null_bm ? NULL : buf);
    note(op, rc);
    EXPECT(rc == want, "hvrt_dirty_log_%s(slot 0x%x): hvrt %d, model %d", view ? "get_view" : "get", slot, rc, want);
    if (rc != 0)
        return;
    size_t words = (np + 63) / 64;
    const uint64_t *got = view ? vp : buf;
    for (size_t i = 0; i < words; i++)
        EXPECT(got[i] == d->bits[i], "dirty log of slot 0x%x word %zu: 0x%" PRIx64 ", model 0x%" PRIx64, slot, i, got[i],
               d->bits[i]);
    if (!view)
        EXPECT(buf[words] == 0xa5a5a5a5a5a5a5a5ull, "hvrt_dirty_log_get wrote past ALIGN(npages, 64) / 8 bytes");
    if (view) {
        g_view.active = 1;
        g_view.slot = slot;
        g_view.p = vp;
        g_view.n = words;
        memcpy(g_view.w, vp, words * 8);
    }
    if (!(M.dirty_mode & HVRT_DIRTY_LOG_MANUAL_PROTECT))
        memset(d->bits, 0, words * 8);
}

static void op_dirty_clear(struct in *in, int op)
{
    uint32_t slot = pick_dirty_slot(in);
    view_end(slot);
    struct fm_dirty *d;
    uint64_t np;
    int look = dirty_lookup(slot, &d, &np);
    const uint64_t fp[] = { 0, 0, 64, 128, 512, 1, np, np + 64, UINT64_MAX - 63 };
    uint64_t first = fp[u8(in) % 9];
    uint8_t k = u8(in);
    const uint32_t nps[] = { (uint32_t)(np - first), 64, 0, 128, 1, 63, 65, 0xffffffffu };
    uint32_t num = nps[k % 8];
    static uint64_t bm[FM_DIRTY_WORDS + 2];
    int null_bm = u8(in) >= 245;
    uint8_t fill = u8(in);
    for (size_t i = 0; i < sizeof bm / 8; i++) /* words from the input, then the last one repeated */
        bm[i] = fill & 1 ? ~0ull : i < 4 ? u64(in) : bm[3];
    int want = look == -EINVAL ? -EINVAL : (first % 64) ? -EINVAL : look;
    if (want == 0 && (first > np || num > np - first || (num % 64 && first + num != np)))
        want = -EINVAL;
    if (want == 0 && null_bm && num > 0)
        want = -EFAULT;
    int rc = hvrt_dirty_log_clear(g_vm, slot, first, num, null_bm ? NULL : bm);
    note(op, rc);
    EXPECT(rc == want, "hvrt_dirty_log_clear(slot 0x%x, first %" PRIu64 ", num %u%s): hvrt %d, model %d", slot, first,
           num, null_bm ? ", NULL" : "", rc, want);
    if (rc == 0)
        for (uint64_t i = 0; i < num && first + i < np; i++)
            if (bm[i / 64] >> (i % 64) & 1)
                d->bits[(first + i) / 64] &= ~(1ull << ((first + i) % 64));
}

static void op_mark_dirty(struct in *in, int op)
{
    uint64_t gpa = (pick_gfn(in) << 12) + (u8(in) < 64 ? 0x7ff : 0);
    uint8_t l = u8(in);
    uint64_t len = l < 200 ? pick_npages(in) * FM_PAGE - (l & 3) : l < 220 ? 0 : l < 240 ? 0 - gpa : 1 - gpa;
    int64_t want = 0;
    int wraps = gpa + len < gpa && gpa + len != 0;
    uint64_t first = gpa >> 12, last = (uint64_t)(((unsigned __int128)gpa + len - 1) >> 12);
    if (wraps)
        want = -EINVAL;
    for (int i = 0; !wraps && len && i < M.slots.n; i++) {
        const struct kd_slot *s = &M.slots.s[i];
        struct fm_dirty *d = s->as == 0 ? fm_dirty_of(&M, 0, s->id) : NULL;
        if (!d)
            continue;
        uint64_t a = first > s->base ? first : s->base, z = last < s->base + s->npages - 1 ? last : s->base + s->npages - 1;
        for (uint64_t g = a; g <= z && a <= z; g++) {
            d->bits[(g - s->base) / 64] |= 1ull << ((g - s->base) % 64);
            want++;
        }
    }
    int64_t rc = hvrt_mark_dirty(g_vm, gpa, len);
    note(op, rc);
    EXPECT(rc == want, "hvrt_mark_dirty(0x%" PRIx64 ", 0x%" PRIx64 "): hvrt %" PRId64 ", model %" PRId64, gpa, len, rc, want);
}

static void op_dirty_mode(struct in *in, int op)
{
    const uint32_t m[] = { 0, 1, 3, 1, 2, 4, 0xffffffffu, 3 };
    uint32_t mode = m[u8(in) % 8];
    int rc = hvrt_dirty_log_set_mode(g_vm, mode);
    note(op, rc);
    uint32_t allowed = mode & 1 ? 3u : 1u;
    int want = mode & ~allowed ? -EINVAL : 0;
    EXPECT_RC(rc, want, "hvrt_dirty_log_set_mode");
    if (rc == 0)
        M.dirty_mode = mode;
}

/* ---- readers ---- */

static void op_reader(struct in *in, int op, int which)
{
    if (which == 0) { /* register */
        if (M.nreaders == FM_MAX_READERS)
            return;
        hvrt_reader *r = NULL;
        int null_out = u8(in) >= 250;
        int rc = hvrt_reader_register(g_vm, null_out ? NULL : &r);
        note(op, rc);
        EXPECT_RC(rc, null_out ? -EFAULT : 0, "hvrt_reader_register");
        if (rc)
            return;
        struct fm_reader *m = fm_reader_of(&M, r);
        EXPECT(!m || m->st == FM_R_UNREGISTERED, "hvrt_reader_register returned a reader that is still registered");
        if (!m) {
            m = &M.readers[M.nreaders++];
            m->ptr = r;
        }
        m->st = FM_R_ONLINE;
        return;
    }
    void *p;
    struct fm_reader *r = pick_reader(in, &p);
    int want = !p ? -EFAULT : !r || r->st == FM_R_UNREGISTERED ? -EBADF : 0;
    int rc;
    const char *what;
    switch (which) {
    case 1: rc = hvrt_reader_online(p); what = "hvrt_reader_online"; break;
    case 2: rc = hvrt_reader_offline(p); what = "hvrt_reader_offline"; break;
    case 3:
        rc = hvrt_reader_quiescent(p);
        what = "hvrt_reader_quiescent";
        if (want == 0 && r->st == FM_R_OFFLINE)
            want = -EPERM;
        break;
    default: rc = hvrt_reader_unregister(p); what = "hvrt_reader_unregister"; break;
    }
    note(op, rc);
    EXPECT_RC(rc, want, what);
    if (rc == 0)
        r->st = which == 1 ? FM_R_ONLINE : which == 2 ? FM_R_OFFLINE : which == 3 ? r->st : FM_R_UNREGISTERED;
}

/* ---- misuse: NULL and foreign handles ---- */

static void op_misuse(struct in *in, int op)
{
    uint8_t b = u8(in);
    hvrt_vm *v = b & 1 ? NULL : (hvrt_vm *)g_fake;
    int want = v ? -EBADF : -EFAULT;
    struct hvrt_translation t;
    struct kvm_userspace_memory_region2 r2 = { .memory_size = 4096, .userspace_addr = (uint64_t)g_area };
    struct kvm_memory_attributes a = { .size = 4096 };
    uint64_t x;
    hvrt_reader *rd;
    struct hvrt_slot_range sr[1];
    int64_t rc;
    switch ((b >> 1) % 16) {
    case 0: rc = hvrt_translate(v, 0, 0, &t); break;
    case 1: rc = hvrt_set_user_memory_region2(v, &r2); break;
    case 2: rc = hvrt_set_memory_attributes(v, &a); break;
    case 3: rc = hvrt_get_memory_attributes(v, 0, &x); break;
    case 4: rc = hvrt_convert(v, 0, 4096, 1); break;
    case 5: rc = hvrt_dirty_log_get(v, 0, &x); break;
    case 6: rc = hvrt_mark_dirty(v, 0, 4096); break;
    case 7: rc = hvrt_find_slots_by_hva(v, 0, 4096, sr, 1); break;
    case 8: rc = hvrt_reader_register(v, &rd); break;
    case 9: rc = hvrt_range_has_attributes(v, 0, 1, 8, 0); break;
    case 10: rc = hvrt_attributes_run(v, 0, 1, &x, &x); break;
    case 11: rc = hvrt_attributes_count(v, 0, 1, &x); break;
    case 12: rc = hvrt_max_mapping_level(v, 0, 0); break;
    case 13: rc = hvrt_conversion_seq(v, &x); break;
    case 14: rc = hvrt_set_discard_policy(v, 0); break;
    default: rc = hvrt_dirty_log_set_mode(v, 0); break;
    }
    note(op, rc);
    EXPECT(rc == want, "call %d with a %s VM: %" PRId64 ", want %d", (b >> 1) % 16, v ? "foreign" : "NULL", rc, want);
}

/* ---- hvrt_bitmap_next_set over a bitmap from the input, in a buffer ending at its last word ---- */

static void op_bitmap_next_set(struct in *in, int op)
{
    static uint64_t words[8];
    size_t nw = 1 + u8(in) % 8;
    uint64_t *bm = words + 8 - nw; /* ASan catches a read past the end */
    for (size_t i = 0; i < nw; i++) {
        uint8_t k = u8(in);
        bm[i] = k < 64 ? 1ull << k : k < 128 ? 0 : k < 192 ? ~0ull : u64(in);
    }
    uint8_t b = u8(in);
    uint64_t nbits = b < 250 ? b % (nw * 64 + 1) : nw * 64; /* never past the buffer */
    uint64_t from = pick_gfn(in);
    int null_bm = u8(in) >= 250;
    uint64_t want = nbits;
    for (uint64_t i = from; !null_bm && i < nbits; i++)
        if (bm[i / 64] >> (i % 64) & 1) {
            want = i;
            break;
        }
    uint64_t got = hvrt_bitmap_next_set(null_bm ? NULL : bm, nbits, from);
    note(op, got == nbits);
    EXPECT(got == want, "hvrt_bitmap_next_set(%zu words, nbits %" PRIu64 ", from %" PRIu64 "): %" PRIu64 ", model %" PRIu64,
           nw, nbits, from, got, want);
}
#endif
