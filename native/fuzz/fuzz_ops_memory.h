/* fuzz_ops_memory.h — abi_fuzz's attribute ops, conversions (discards, listeners, sequence,
 * file contents) and reverse queries. */
#ifndef HVRT_FUZZ_OPS_MEMORY_H
#define HVRT_FUZZ_OPS_MEMORY_H
#include <linux/falloc.h>
#include "fuzz_ops_slots.h"

/* ---- attributes ---- */

static void op_set_attributes(struct in *in, int op)
{
    struct kvm_memory_attributes a = { 0 };
    uint8_t b = u8(in);
    a.address = b < 240 ? pick_gfn(in) << 12 : (b & 1 ? pick_gfn(in) << 12 | 0x800 : UINT64_MAX - 4095);
    a.size = pick_size(in);
    const uint64_t at[] = { 0, FM_PRIVATE, FM_PRIVATE, 0, FM_PRIVATE | 1, 1, 16, UINT64_MAX };
    a.attributes = at[u8(in) % 8];
    a.flags = u8(in) >= 250 ? 1 : 0;
    readers_offline();
    int want;
    if (a.flags || (a.attributes & ~M.rules.supported_attrs) || a.size == 0 || a.address + a.size < a.address ||
        ((a.address | a.size) & 4095))
        want = -EINVAL;
    else
        want = 0;
    int rc = hvrt_set_memory_attributes(g_vm, b == 255 ? NULL : &a);
    if (b == 255)
        want = -EFAULT;
    note(op, rc);
    EXPECT(rc == want, "hvrt_set_memory_attributes(address 0x%" PRIx64 ", size 0x%" PRIx64 ", attrs 0x%" PRIx64
           ", flags %" PRIu64 "): hvrt %d, model %d", (uint64_t)a.address, (uint64_t)a.size, (uint64_t)a.attributes,
           (uint64_t)a.flags, rc, want);
    if (rc == 0) {
        uint64_t s = a.address >> 12, e = (a.address + a.size) >> 12;
        if (a.address + a.size == 0)
            e = 1ull << 52; /* ends exactly at 2^64 (not reachable: that wraps) */
        fm_attr_set(&M, s, e, a.attributes != 0);
    }
}

static void check_get_attr(uint64_t gfn)
{
    uint64_t v = 0xa5a5;
    int rc = hvrt_get_memory_attributes(g_vm, gfn, &v);
    uint64_t want = fm_attr_private(&M, gfn) ? FM_PRIVATE : 0;
    EXPECT(rc == 0 && v == want, "hvrt_get_memory_attributes(0x%" PRIx64 "): rc %d attrs 0x%" PRIx64 ", model 0x%" PRIx64,
           gfn, rc, v, want);
}

static void op_attr_query(struct in *in, int op, int which)
{
    uint64_t a = pick_gfn(in), b;
    uint8_t k = u8(in);
    if (k < 64)
        b = a + 1 + (k & 7);
    else if (k < 80)
        b = k & 1 ? 0 : a;
    else
        b = pick_gfn(in);
    int rc;
    switch (which) {
    case 0: { /* get */
        uint64_t v = 0xa5a5;
        rc = hvrt_get_memory_attributes(g_vm, a, k == 255 ? NULL : &v);
        note(op, rc);
        if (k == 255) {
            EXPECT_RC(rc, -EFAULT, "hvrt_get_memory_attributes(attrs NULL)");
            return;
        }
        check_get_attr(a);
        return;
    }
    case 1: { /* range_has */
        const uint64_t masks[] = { UINT64_MAX, FM_PRIVATE, 0, 1, FM_PRIVATE | 1, 16 };
        const uint64_t attrs[] = { 0, FM_PRIVATE, FM_PRIVATE | 1, 1 };
        uint8_t m = u8(in);
        uint64_t mask = masks[m % 6], at = attrs[(m >> 4) % 4];
        rc = hvrt_range_has_attributes(g_vm, a, b, mask, at);
        note(op, rc);
        int want = fm_range_has(&M, a, b, mask, at);
        EXPECT(rc == want, "hvrt_range_has_attributes(0x%" PRIx64 ", 0x%" PRIx64 ", mask 0x%" PRIx64 ", attrs 0x%" PRIx64
               "): hvrt %d, model %d", a, b, mask, at, rc, want);
        return;
    }
    case 2: { /* attributes_run */
        uint64_t end = 0xa5, at = 0xa5;
        rc = hvrt_attributes_run(g_vm, a, b, &end, &at);
        note(op, rc);
        if (a >= b) {
            EXPECT(rc == -EINVAL && end == 0xa5 && at == 0xa5, "hvrt_attributes_run(0x%" PRIx64 ", 0x%" PRIx64
                   "): rc %d, model -EINVAL (out untouched)", a, b, rc);
            return;
        }
        uint64_t we = fm_attr_run_end(&M, a, b), wa = fm_attr_private(&M, a) ? FM_PRIVATE : 0;
        EXPECT(rc == 0 && end == we && at == wa, "hvrt_attributes_run(0x%" PRIx64 ", 0x%" PRIx64 "): rc %d end 0x%" PRIx64
               " attrs 0x%" PRIx64 "; model end 0x%" PRIx64 " attrs 0x%" PRIx64, a, b, rc, end, at, we, wa);
        return;
    }
    case 3: { /* attributes_count */
        uint64_t c = 0xa5;
        rc = hvrt_attributes_count(g_vm, a, b, k == 254 ? NULL : &c);
        note(op, rc);
        if (k == 254) {
            EXPECT_RC(rc, -EFAULT, "hvrt_attributes_count(NULL)");
            return;
        }
        if (a > b) {
            EXPECT(rc == -EINVAL && c == 0xa5, "hvrt_attributes_count(0x%" PRIx64 ", 0x%" PRIx64 "): rc %d, model -EINVAL",
                   a, b, rc);
            return;
        }
        uint64_t w = fm_attr_count(&M, a, b);
        EXPECT(rc == 0 && c == w, "hvrt_attributes_count(0x%" PRIx64 ", 0x%" PRIx64 "): rc %d count %" PRIu64
               ", model %" PRIu64, a, b, rc, c, w);
        return;
    }
    default: { /* max_mapping_level */
        uint32_t as = k & 1;
        if (k >= 250)
            as = k & 1 ? 2 : 0xffffffffu;
        rc = hvrt_max_mapping_level(g_vm, as, a);
        note(op, rc);
        int want;
        const struct kd_slot *s = as < M.rules.nr_as ? kd_find_gfn(&M.slots, as, a) : NULL;
        if (as >= M.rules.nr_as)
            want = -EINVAL;
        else if (!s)
            want = -ENOENT;
        else
            want = fm_max_level(&M, s, a);
        EXPECT(rc == want, "hvrt_max_mapping_level(as %u, gfn 0x%" PRIx64 "): hvrt %d, model %d", as, a, rc, want);
        return;
    }
    }
}

/* ---- conversion: discards, listeners, sequence ---- */

struct cb_call {
    uintptr_t ctx;
    uint64_t gpa, size;
    int to_private;
};
#define CB_MAX 4096
static struct cb_call g_cb[CB_MAX];
static int g_ncb;
static const char *g_cb_error;

static void listener(void *ctx, uint64_t gpa, uint64_t size, int to_private)
{
    if (g_ncb < CB_MAX)
        g_cb[g_ncb] = (struct cb_call){ (uintptr_t)ctx, gpa, size, to_private };
    g_ncb++;
    uint64_t seq = 0, at = 0xa5;
    struct kvm_memory_attributes a = { .address = gpa, .size = 4096, .attributes = 0 };
    if (hvrt_conversion_seq(g_vm, &seq) != 0 || !(seq & 1))
        g_cb_error = "hvrt_conversion_seq is not odd inside a listener";
    else if (hvrt_get_memory_attributes(g_vm, gpa >> 12, &at) != 0 || at != (to_private ? FM_PRIVATE : 0))
        g_cb_error = "a listener does not see the new attribute";
    else if (hvrt_convert(g_vm, gpa, 4096, !to_private) != -EDEADLK)
        g_cb_error = "hvrt_convert inside a listener is not -EDEADLK";
    else if (hvrt_set_memory_attributes(g_vm, &a) != -EDEADLK)
        g_cb_error = "hvrt_set_memory_attributes inside a listener is not -EDEADLK";
    else if ((uintptr_t)ctx == 3 && hvrt_remove_conversion_listener(g_vm, listener, ctx) != 0)
        g_cb_error = "listener 3 could not remove itself from its callback";
}

/* content[f][page]: the first byte of each page of files A, B, C; -1 unknown. Only pages the
 * input wrote (touched) are checked and reset: reading or punching all 2112 pages per input
 * would cost more than the rest of the run. */
static int16_t g_content[3][AREA_PAGES];
static uint8_t g_touched[3][AREA_PAGES];

static void discard_page(int f, uint64_t pg, int failed)
{
    if (f <= FM_FILE_C && pg < g_files[f].pages)
        g_content[f][pg] = failed ? -1 : 0;
}

/* hvrt.h, hvrt_convert: a shared page that also backs a gfn outside the converted range
 * [cs, ce) whose attribute is shared (slots' host ranges may overlap) is not dropped. */
static int shared_page_in_use(uint64_t area_page, uint64_t cs, uint64_t ce)
{
    for (int k = 0; k < M.slots.n; k++) {
        const struct kd_slot *o = &M.slots.s[k];
        uint64_t first = (o->hva - (uint64_t)g_area) / FM_PAGE;
        if (o->hva < (uint64_t)g_area || area_page < first || area_page - first >= o->npages)
            continue;
        uint64_t g = o->base + (area_page - first);
        if ((g < cs || g >= ce) && !fm_attr_private(&M, g))
            return 1;
    }
    return 0;
}

static void op_convert(struct in *in, int op)
{
    uint8_t b = u8(in);
    uint64_t gpa = b < 240 ? pick_gfn(in) << 12 : (b & 1 ? 0x800 : UINT64_MAX - 4095);
    uint64_t size = pick_size(in);
    uint8_t t = u8(in);
    int tp = t < 250 ? t & 1 : (t & 1 ? 2 : -1);
    readers_offline();
    int want = 0;
    if (!M.rules.private_mem || (tp != 0 && tp != 1) || size == 0 || gpa + size < gpa || ((gpa | size) & 4095))
        want = -EINVAL;
    /* the runs of pages whose attribute changes */
    struct fm_iv runs[FM_MAX_IVS + 1];
    int nruns = 0;
    if (want == 0) {
        uint64_t s = gpa >> 12, e = (gpa + size) >> 12;
        for (uint64_t g = s; g < e;) {
            uint64_t r = fm_attr_run_end(&M, g, e);
            if (fm_attr_private(&M, g) != tp) {
                if (nruns && runs[nruns - 1].e == g)
                    runs[nruns - 1].e = r;
                else
                    runs[nruns++] = (struct fm_iv){ g, r };
            }
            g = r;
        }
    }
    /* which discards: a punch through a read-only duplicate fails with -EBADF */
    int punch_fails = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < nruns; i++) {
            for (int k = 0; k < M.slots.n; k++) {
                const struct kd_slot *s = &M.slots.s[k];
                uint64_t a = runs[i].s > s->base ? runs[i].s : s->base;
                uint64_t z = runs[i].e < s->base + s->npages ? runs[i].e : s->base + s->npages;
                if (a >= z)
                    continue;
                if (tp && (M.discard_policy & HVRT_DISCARD_SHARED) && pass == 1) {
                    for (uint64_t g = a; g < z; g++) {
                        uint64_t pg = (s->hva - (uint64_t)g_area) / FM_PAGE + (g - s->base);
                        if (!shared_page_in_use(pg, gpa >> 12, (gpa + size) >> 12))
                            discard_page(FM_FILE_A, pg, punch_fails);
                    }
                }
                if (!tp && (M.discard_policy & HVRT_DISCARD_PRIVATE) && fm_slot_private(s)) {
                    int f = file_of_fd(s->fd);
                    if (pass == 0 && M.file_dup_ro[f])
                        punch_fails = 1;
                    if (pass == 1)
                        for (uint64_t g = a; g < z; g++)
                            discard_page(f, s->pgoff + (g - s->base), punch_fails);
                }
            }
        }
    }
    if (want == 0 && punch_fails)
        want = -EBADF;
    uint64_t seq0 = 0, seq1 = 0;
    EXPECT_RC(hvrt_conversion_seq(g_vm, &seq0), 0, "hvrt_conversion_seq");
    g_ncb = 0;
    g_cb_error = NULL;
    int rc = hvrt_convert(g_vm, gpa, size, tp);
    note(op, rc);
    EXPECT(rc == want, "hvrt_convert(0x%" PRIx64 ", 0x%" PRIx64 ", %d): hvrt %d, model %d (%d runs)", gpa, size, tp, rc,
           want, nruns);
    EXPECT(g_cb_error == NULL, "hvrt_convert: %s", g_cb_error);
    EXPECT_RC(hvrt_conversion_seq(g_vm, &seq1), 0, "hvrt_conversion_seq");
    uint64_t adv = (rc == 0 || rc == -EBADF) && nruns ? 2 : 0;
    EXPECT(seq0 == M.conv_seq && seq1 == seq0 + adv, "conversion sequence %" PRIu64 " -> %" PRIu64 ", model %" PRIu64
           " + %" PRIu64, seq0, seq1, M.conv_seq, adv);
    M.conv_seq += adv;
    if (rc != 0) {
        EXPECT(g_ncb == 0, "a failed conversion called listeners %d times", g_ncb);
        return;
    }
    /* every run, every listener in the order added; listener 3 removes itself on its first call,
     * so it is not called for the runs that follow */
    int c = 0;
    for (int i = 0; i < nruns; i++)
        for (int l = 0; l < M.nlisteners; l++, c++) {
            EXPECT(c < g_ncb, "hvrt_convert called listeners %d times; the model expects more (run %d of %d, listener %d)",
                   g_ncb, i, nruns, l);
            const struct cb_call *x = &g_cb[c < CB_MAX ? c : CB_MAX - 1];
            EXPECT(c >= CB_MAX || (x->ctx == M.listeners[l] && x->gpa == runs[i].s << 12 &&
                                   x->size == (runs[i].e - runs[i].s) << 12 && x->to_private == tp),
                   "listener call %d: ctx %" PRIuPTR " [0x%" PRIx64 ", +0x%" PRIx64 ") %d; model ctx %" PRIuPTR
                   " [0x%" PRIx64 ", +0x%" PRIx64 ")", c, x->ctx, x->gpa, x->size, x->to_private, M.listeners[l],
                   runs[i].s << 12, (runs[i].e - runs[i].s) << 12);
            if (M.listeners[l] == 3) {
                memmove(&M.listeners[l], &M.listeners[l + 1], (size_t)(M.nlisteners - l - 1) * sizeof M.listeners[0]);
                M.nlisteners--;
                l--;
            }
        }
    EXPECT(g_ncb == c, "hvrt_convert called listeners %d times, model %d", g_ncb, c);
    if (want == 0)
        fm_attr_set(&M, gpa >> 12, (gpa + size) >> 12 ? (gpa + size) >> 12 : FM_GFN_LIMIT, tp);
}

static void op_listener(struct in *in, int op)
{
    uint8_t b = u8(in);
    uintptr_t ctx = 1 + (b >> 1) % 3;
    int rc, want;
    if (b >= 250) {
        rc = hvrt_add_conversion_listener(g_vm, NULL, (void *)ctx);
        note(op, rc);
        EXPECT_RC(rc, -EFAULT, "hvrt_add_conversion_listener(cb NULL)");
        return;
    }
    int idx = fm_listener_index(&M, ctx);
    if (b & 1) {
        rc = hvrt_add_conversion_listener(g_vm, listener, (void *)ctx);
        want = idx >= 0 ? -EEXIST : 0;
        if (rc == 0 && want == 0)
            M.listeners[M.nlisteners++] = ctx;
    } else {
        rc = hvrt_remove_conversion_listener(g_vm, listener, (void *)ctx);
        want = idx >= 0 ? 0 : -ENOENT;
        if (rc == 0 && want == 0) {
            memmove(&M.listeners[idx], &M.listeners[idx + 1], (size_t)(M.nlisteners - idx - 1) * sizeof M.listeners[0]);
            M.nlisteners--;
        }
    }
    note(op, rc);
    EXPECT(rc == want, "%s conversion listener ctx %" PRIuPTR ": hvrt %d, model %d", b & 1 ? "add" : "remove", ctx, rc, want);
}

static void op_discard_policy(struct in *in, int op)
{
    const uint32_t p[] = { 0, 1, 2, 3, 3, 3, 4, 0xffffffffu };
    uint32_t f = p[u8(in) % 8];
    int rc = hvrt_set_discard_policy(g_vm, f);
    note(op, rc);
    int want = f & ~3u ? -EINVAL : 0;
    EXPECT_RC(rc, want, "hvrt_set_discard_policy");
    if (rc == 0)
        M.discard_policy = f;
}

static void op_write(struct in *in, int op)
{
    int f = u8(in) % 3;
    uint64_t pg = pick_gfn(in) % g_files[f].pages, n = 1 + u8(in) % 16;
    unsigned char v = u8(in) | 1;
    for (uint64_t i = pg; i < pg + n && i < g_files[f].pages; i++) {
        g_files[f].map[i * FM_PAGE] = v;
        g_content[f][i] = v;
        g_touched[f][i] = 1;
    }
    note(op, 0);
}

static void check_content(void)
{
    for (int f = 0; f <= FM_FILE_C; f++)
        for (uint64_t p = 0; p < g_files[f].pages; p++)
            EXPECT(!g_touched[f][p] || g_content[f][p] < 0 || g_files[f].map[p * FM_PAGE] == g_content[f][p],
                   "file %c page %" PRIu64 ": byte 0x%x, model 0x%x (a discard hit the wrong page or missed one)",
                   'A' + f, p, g_files[f].map[p * FM_PAGE], g_content[f][p]);
}

/* ---- reverse queries ---- */

#define RANGES_MAX (KD_MAX_SLOTS + 8) /* a slot gives at most one pair */

static int cmp_range(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b; /* key[0..2] */
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

struct keyed { uint64_t k[3]; struct hvrt_slot_range r; };

static void check_pairs(const char *what, int rc, int want_total, struct keyed *w, size_t cap,
                        const struct hvrt_slot_range *out)
{
    EXPECT(rc == want_total, "%s returned %d, model %d pairs", what, rc, want_total);
    qsort(w, (size_t)want_total, sizeof *w, cmp_range);
    for (size_t i = 0; i < (size_t)want_total && i < cap; i++)
        EXPECT(!memcmp(&out[i], &w[i].r, sizeof out[i]), "%s pair %zu: slot 0x%x flags 0x%x [0x%" PRIx64 ", 0x%" PRIx64
               ") reserved %" PRIu64 "; model slot 0x%x flags 0x%x [0x%" PRIx64 ", 0x%" PRIx64 ")", what, i, out[i].slot,
               out[i].flags, out[i].gfn_start, out[i].gfn_end, out[i].reserved, w[i].r.slot, w[i].r.flags,
               w[i].r.gfn_start, w[i].r.gfn_end);
    for (size_t i = (size_t)want_total < cap ? (size_t)want_total : cap; i < RANGES_MAX; i++)
        EXPECT(((const uint8_t *)&out[i])[0] == 0xa5, "%s wrote past min(total, cap)", what);
}

static size_t pick_cap(struct in *in)
{
    const size_t c[] = { 8, 8, 8, 0, 1, 2, SIZE_MAX, 8 }; /* SIZE_MAX: "enough", whatever the total */
    return c[u8(in) % 8];
}

static void op_find_hva(struct in *in, int op)
{
    uint64_t hva = pick_hva(in) + (u8(in) < 64 ? 100 : 0);
    uint8_t l = u8(in);
    uint64_t len = l < 200 ? pick_npages(in) * FM_PAGE - (l & 1) : l < 220 ? 0 : l < 240 ? UINT64_MAX - hva : UINT64_MAX - hva + 1;
    size_t cap = pick_cap(in);
    int null_out = u8(in) >= 240;
    static struct hvrt_slot_range out[RANGES_MAX];
    memset(out, 0xa5, sizeof out);
    int rc = hvrt_find_slots_by_hva(g_vm, hva, len, null_out ? NULL : out, cap);
    note(op, rc);
    if (null_out && cap > 0) {
        EXPECT_RC(rc, -EFAULT, "hvrt_find_slots_by_hva(out NULL)");
        return;
    }
    if (hva + len < hva) {
        EXPECT_RC(rc, -EINVAL, "hvrt_find_slots_by_hva(wrapping range)");
        return;
    }
    struct keyed w[KD_MAX_SLOTS];
    int n = 0;
    for (int i = 0; len && i < M.slots.n; i++) {
        const struct kd_slot *s = &M.slots.s[i];
        uint64_t se = s->hva + s->npages * FM_PAGE;
        uint64_t a = hva > s->hva ? hva : s->hva, z = hva + len < se ? hva + len : se;
        if (a >= z)
            continue;
        w[n].k[0] = s->as;
        w[n].k[1] = s->hva;
        w[n].k[2] = s->as << 16 | s->id;
        w[n].r = (struct hvrt_slot_range){ .slot = s->as << 16 | s->id, .flags = tr_flags(s),
                                           .gfn_start = s->base + ((a - s->hva) >> 12),
                                           .gfn_end = s->base + ((z + 4095 - s->hva) >> 12) };
        n++;
    }
    check_pairs("hvrt_find_slots_by_hva", rc, n, w, null_out ? 0 : cap, out);
}

static void op_find_private(struct in *in, int op)
{
    uint32_t fd = pick_fd(in);
    uint64_t off = pick_offset(in, 0, fd) + (u8(in) < 64 ? 100 : 0);
    uint8_t l = u8(in);
    uint64_t len = l < 200 ? pick_npages(in) * FM_PAGE - (l & 1) : l < 220 ? 0 : l < 240 ? UINT64_MAX - off : UINT64_MAX - off + 1;
    size_t cap = pick_cap(in);
    int null_out = u8(in) >= 240;
    static struct hvrt_slot_range out[RANGES_MAX];
    memset(out, 0xa5, sizeof out);
    int rc = hvrt_find_slots_by_private(g_vm, (int)fd, off, len, null_out ? NULL : out, cap);
    note(op, rc);
    int f = file_of_fd(fd);
    if (null_out && cap > 0) {
        EXPECT_RC(rc, -EFAULT, "hvrt_find_slots_by_private(out NULL)");
        return;
    }
    if (off + len < off) {
        EXPECT_RC(rc, -EINVAL, "hvrt_find_slots_by_private(wrapping range)");
        return;
    }
    if ((int)fd < 0 || f < 0) {
        EXPECT_RC(rc, -EBADF, "hvrt_find_slots_by_private(fd not open)");
        return;
    }
    unsigned __int128 first = off >> 12, end = ((unsigned __int128)off + len + 4095) >> 12;
    struct keyed w[KD_MAX_SLOTS];
    int n = 0;
    for (int i = 0; len && i < M.slots.n; i++) {
        const struct kd_slot *s = &M.slots.s[i];
        if (!fm_slot_private(s) || file_of_fd(s->fd) != f)
            continue;
        unsigned __int128 a = s->pgoff > first ? s->pgoff : first;
        unsigned __int128 z = s->pgoff + s->npages < end ? s->pgoff + s->npages : end;
        if (a >= z)
            continue;
        w[n].k[0] = s->as;
        w[n].k[1] = s->pgoff;
        w[n].k[2] = 0;
        w[n].r = (struct hvrt_slot_range){ .slot = s->as << 16 | s->id, .flags = tr_flags(s),
                                           .gfn_start = s->base + (uint64_t)a - s->pgoff,
                                           .gfn_end = s->base + (uint64_t)z - s->pgoff };
        n++;
    }
    check_pairs("hvrt_find_slots_by_private", rc, n, w, null_out ? 0 : cap, out);
}
#endif
