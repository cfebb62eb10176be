/* fuzz_ops_slots.h — abi_fuzz's translation checks (every translate path against the model)
 * and its slot ops: single requests through v1/region2/_ext, batches, bulk creation, and the
 * translate batches. */
#ifndef HVRT_FUZZ_OPS_SLOTS_H
#define HVRT_FUZZ_OPS_SLOTS_H
#include "fuzz_harness.h"

/* ---- translations ---- */

static uint32_t tr_flags(const struct kd_slot *s)
{
    return (s->flags & KVM_MEM_READONLY ? HVRT_TR_READONLY : 0) |
           (s->flags & KVM_MEM_LOG_DIRTY_PAGES ? HVRT_TR_LOG_DIRTY : 0) | (fm_slot_private(s) ? HVRT_TR_HAS_PRIVATE : 0);
}

/* The model's answer for (as, gfn): 0 and *t, -EINVAL or -ENOENT. */
static int expect_tr(uint32_t as, uint64_t gfn, struct hvrt_translation *t, const struct kd_slot **sp)
{
    memset(t, 0, sizeof *t);
    *sp = NULL;
    if (as >= M.rules.nr_as)
        return -EINVAL;
    const struct kd_slot *s = kd_find_gfn(&M.slots, as, gfn);
    if (!s)
        return -ENOENT;
    uint64_t off = gfn - s->base;
    *sp = s;
    t->slot = s->as << 16 | s->id;
    t->flags = tr_flags(s);
    t->base_gfn = s->base;
    t->npages = s->npages;
    t->hva = s->hva + (off << 12);
    t->private_pgoff = fm_slot_private(s) ? s->pgoff + off : 0;
    t->private_fd = -1;
    t->run_pages = s->npages - off;
    if (M.had_private) {
        uint64_t look = t->run_pages < (1ull << 18) ? t->run_pages : 1ull << 18;
        if (fm_attr_private(&M, gfn))
            t->flags |= HVRT_TR_PRIVATE;
        t->run_pages = fm_attr_run_end(&M, gfn, gfn + look) - gfn;
    }
    t->generation = M.gen[as];
    return 0;
}

static void check_tr_fields(const char *what, uint64_t gfn, const struct hvrt_translation *got,
                            const struct hvrt_translation *want, const struct kd_slot *s)
{
    EXPECT(got->slot == want->slot && got->flags == want->flags && got->base_gfn == want->base_gfn &&
               got->npages == want->npages && got->hva == want->hva && got->private_pgoff == want->private_pgoff &&
               got->result == 0 && got->run_pages == want->run_pages && got->generation == want->generation,
           "%s gfn 0x%" PRIx64 ": got slot 0x%x flags 0x%x base 0x%" PRIx64 " npages %" PRIu64 " hva 0x%" PRIx64
           " pgoff %" PRIu64 " result %d run %" PRIu64 " gen %" PRIu64 "; model slot 0x%x flags 0x%x base 0x%" PRIx64
           " npages %" PRIu64 " hva 0x%" PRIx64 " pgoff %" PRIu64 " run %" PRIu64 " gen %" PRIu64,
           what, gfn, got->slot, got->flags, got->base_gfn, got->npages, got->hva, got->private_pgoff, got->result,
           got->run_pages, got->generation, want->slot, want->flags, want->base_gfn, want->npages, want->hva,
           want->private_pgoff, want->run_pages, want->generation);
    if (fm_slot_private(s)) {
        struct stat st;
        int f = file_of_fd(s->fd);
        EXPECT(got->private_fd >= 0 && fstat(got->private_fd, &st) == 0 && st.st_ino == g_ino[f],
               "%s gfn 0x%" PRIx64 ": private_fd %d is not the slot's file", what, gfn, got->private_fd);
    } else {
        EXPECT(got->private_fd == -1, "%s gfn 0x%" PRIx64 ": private_fd %d for a slot without private backing", what,
               gfn, got->private_fd);
    }
}

static const uint8_t POISON[sizeof(struct hvrt_translation)] = { [0 ... sizeof(struct hvrt_translation) - 1] = 0xa5 };

static void check_translate(uint32_t as, uint64_t gfn)
{
    struct hvrt_translation got, want;
    const struct kd_slot *s;
    int w = expect_tr(as, gfn, &want, &s);
    memset(&got, 0xa5, sizeof got);
    int rc = hvrt_translate(g_vm, as, gfn, &got);
    EXPECT(rc == w, "hvrt_translate(as %u, gfn 0x%" PRIx64 ") returned %d, model says %d", as, gfn, rc, w);
    if (rc == 0)
        check_tr_fields("hvrt_translate", gfn, &got, &want, s);
    else
        EXPECT(!memcmp(&got, POISON, sizeof got), "hvrt_translate wrote out on error %d", rc);
}

static struct fm_reader *reader_online(void)
{
    for (int i = 0; i < M.nreaders; i++)
        if (M.readers[i].st == FM_R_ONLINE)
            return &M.readers[i];
    return NULL;
}

static void check_reader_translate(struct fm_reader *r, uint32_t as, uint64_t gfn, int use_inline)
{
    struct hvrt_translation got, want;
    const struct kd_slot *s;
    int w = expect_tr(as, gfn, &want, &s);
    if (r->st == FM_R_UNREGISTERED)
        w = -EBADF;
    else if (w != -EINVAL && r->st == FM_R_OFFLINE)
        w = -EPERM;
    memset(&got, 0xa5, sizeof got);
    int rc = use_inline ? hvrt_reader_translate_inline(r->ptr, as, gfn, &got) : hvrt_reader_translate(r->ptr, as, gfn, &got);
    const char *what = use_inline ? "hvrt_reader_translate_inline" : "hvrt_reader_translate";
    EXPECT(rc == w, "%s(as %u, gfn 0x%" PRIx64 ") returned %d, model says %d", what, as, gfn, rc, w);
    if (rc == 0)
        check_tr_fields(what, gfn, &got, &want, s);
    else
        EXPECT(!memcmp(&got, POISON, sizeof got), "%s wrote out on error %d", what, rc);
    if (use_inline) { /* NULL for an as_id out of range, as for a miss */
        const struct hvrt_slot_entry *e = hvrt_reader_lookup_inline(r->ptr, as, gfn);
        EXPECT((e != NULL) == (s != NULL), "hvrt_reader_lookup_inline(as %u, gfn 0x%" PRIx64 "): %s, model: %s", as,
               gfn, e ? "an entry" : "NULL", s ? "a slot" : "none");
        if (e)
            EXPECT(e->base_gfn == s->base && e->npages == s->npages && e->hva == s->hva &&
                       e->slot == (s->as << 16 | s->id) && e->kvm_flags == s->flags && e->tr_flags == tr_flags(s) &&
                       hvrt_slot_hva(e, gfn) == s->hva + ((gfn - s->base) << 12) &&
                       (!fm_slot_private(s) || e->private_pgoff == s->pgoff),
                   "hvrt_reader_lookup_inline(as %u, gfn 0x%" PRIx64 "): entry differs from the model's slot", as, gfn);
    }
}

/* ---- slot requests ---- */

static void readers_offline(void)
{
    for (int i = 0; i < M.nreaders; i++)
        if (M.readers[i].st == FM_R_ONLINE) {
            EXPECT_RC(hvrt_reader_offline(M.readers[i].ptr), 0, "hvrt_reader_offline (before a change)");
            M.readers[i].st = FM_R_OFFLINE;
        }
}

static void spot_check(const struct kvm_userspace_memory_region2 *r)
{
    uint32_t as = r->slot >> 16;
    if (as > 1)
        as = 0;
    uint64_t b = r->guest_phys_addr >> 12, n = r->memory_size >> 12;
    const uint64_t g[] = { b, b + n - 1, b - 1, b + n, b + n / 2 };
    for (int i = 0; i < 5; i++)
        check_translate(as, g[i]);
}

static void print_region(const char *entry, const struct kvm_userspace_memory_region2 *r)
{
    if (g_verbose)
        fprintf(stderr, "  %s slot 0x%x flags 0x%x gpa 0x%" PRIx64 " size 0x%" PRIx64 " hva area+0x%" PRIx64
                " fd %d off 0x%" PRIx64 "\n", entry, r->slot, r->flags, (uint64_t)r->guest_phys_addr,
                (uint64_t)r->memory_size, (uint64_t)r->userspace_addr - (uint64_t)g_area, (int)r->guest_memfd,
                (uint64_t)r->guest_memfd_offset);
}

/* A fresh request from the input, or a change of an existing slot (delete, move, flags, ...). */
static void gen_region(struct in *in, struct kvm_userspace_memory_region2 *r, int mutate)
{
    memset(r, 0, sizeof *r);
    if (mutate && M.slots.n) {
        const struct kd_slot *s = &M.slots.s[u8(in) % M.slots.n];
        struct kd_op op;
        kd_op_from_slot(&op, s);
        *r = op.r;
        switch (u8(in) % 9) {
        case 0: r->memory_size = 0; if (u8(in) & 1) r->flags = 0; break;
        case 1: r->guest_phys_addr = pick_gpa(in, r->memory_size); break;
        case 2: r->flags ^= KVM_MEM_LOG_DIRTY_PAGES; break;
        case 3: break; /* identical */
        case 4: r->flags ^= KVM_MEM_READONLY; break;
        case 5: r->userspace_addr += FM_PAGE; break;
        case 6: r->memory_size += FM_PAGE; break;
        case 7: r->flags ^= KVM_MEM_GUEST_MEMFD; r->guest_memfd = pick_fd(in); break;
        default: r->guest_phys_addr = pick_gpa(in, r->memory_size); r->flags ^= KVM_MEM_LOG_DIRTY_PAGES; break;
        }
        return;
    }
    r->slot = pick_slot(in);
    r->flags = pick_flags(in);
    r->memory_size = pick_size(in);
    r->guest_phys_addr = pick_gpa(in, r->memory_size);
    r->userspace_addr = pick_hva(in);
    if (r->flags & KVM_MEM_GUEST_MEMFD || u8(in) < 32) {
        r->guest_memfd = pick_fd(in);
        r->guest_memfd_offset = pick_offset(in, r->memory_size, r->guest_memfd);
    }
    if (u8(in) < 16) { /* pads are ignored */
        r->pad1 = 0xdead;
        r->pad2[u8(in) % 14] = u64(in);
    }
}

static void op_set_region(struct in *in, enum kd_entry entry, int op)
{
    struct kvm_userspace_memory_region2 r;
    gen_region(in, &r, u8(in) & 1);
    if (entry == KD_V1) { /* v1 has 32 bytes: the model sees what hvrt sees */
        struct kvm_userspace_memory_region2 z = { 0 };
        memcpy(&z, &r, 32);
        r = z;
    }
    print_region(kd_entry_name[entry], &r);
    readers_offline();
    enum fm_change ch;
    int want = fm_predict_region(&M, entry, &r, &ch);
    struct kd_op kop = { .entry = entry, .kind = "fuzz", .r = r };
    int rc = kd_hvrt_apply(g_vm, &kop);
    note(op, rc);
    EXPECT(rc == want, "set_user_memory_region (%s) slot 0x%x flags 0x%x gpa 0x%" PRIx64 " size 0x%" PRIx64
           " hva area+0x%" PRIx64 " fd %d off 0x%" PRIx64 ": hvrt %d, model %d", kd_entry_name[entry], r.slot, r.flags,
           (uint64_t)r.guest_phys_addr, (uint64_t)r.memory_size, (uint64_t)r.userspace_addr - (uint64_t)g_area,
           (int)r.guest_memfd, (uint64_t)r.guest_memfd_offset, rc, want);
    if (rc == 0 && ch != FM_NONE) {
        fm_apply_region(&M, entry, &r, ch);
        M.gen[r.slot >> 16] += M.rules.nr_as;
    }
    spot_check(&r);
}

static void op_batch(struct in *in, int op)
{
    struct kvm_userspace_memory_region2 r[4];
    int32_t res[4], want_res[4];
    size_t n = 1 + u8(in) % 4;
    uint8_t mode = u8(in);
    readers_offline();
    if (mode >= 250) { /* argument checks, in hvrt.h's order */
        int rc = mode & 1 ? hvrt_set_user_memory_regions(g_vm, NULL, n, NULL)
                          : hvrt_set_user_memory_regions(g_vm, r, (size_t)INT32_MAX + 1, NULL);
        note(op, rc);
        EXPECT_RC(rc, mode & 1 ? -EFAULT : -EINVAL, "hvrt_set_user_memory_regions (bad arguments)");
        return;
    }
    uint64_t gen0[2] = { M.gen[0], M.gen[1] };
    int changed[2] = { 0, 0 }, applied = 0;
    for (size_t i = 0; i < n; i++) {
        gen_region(in, &r[i], u8(in) & 1);
        print_region("batch", &r[i]);
        enum fm_change ch;
        want_res[i] = fm_predict_region(&M, KD_R2, &r[i], &ch);
        if (want_res[i] == 0) {
            applied++;
            if (ch != FM_NONE) {
                fm_apply_region(&M, KD_R2, &r[i], ch);
                changed[r[i].slot >> 16] = 1;
            }
        }
    }
    memset(res, 0x5a, sizeof res);
    int rc = hvrt_set_user_memory_regions(g_vm, r, n, mode & 1 ? NULL : res);
    note(op, rc);
    EXPECT_RC(rc, applied, "hvrt_set_user_memory_regions (entries applied)");
    for (size_t i = 0; !(mode & 1) && i < n; i++)
        EXPECT(res[i] == want_res[i], "batch entry %zu: hvrt %d, model %d", i, res[i], want_res[i]);
    for (int as = 0; as < 2; as++)
        M.gen[as] = gen0[as] + (changed[as] ? M.rules.nr_as : 0);
    for (size_t i = 0; i < n; i++)
        spot_check(&r[i]);
}

/* Many small slots at once (ids 100...), so snapshots get several index leaves (64 entries
 * each): through one batch (region2), or one call each (region2, or _ext for private slots).
 * Private ones are one page each of a file at consecutive offsets (the private-file index). */
static void op_bulk(struct in *in, int op)
{
    static struct kvm_userspace_memory_region2 r[KD_MAX_SLOTS];
    static int32_t res[KD_MAX_SLOTS];
    int room = KD_MAX_SLOTS - 8 - M.slots.n;
    uint8_t b = u8(in), fb = u8(in);
    int n = 60 + b % 140;
    uint32_t as = (b >> 7) & 1, flags = fb & 1 ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    uint64_t base = pick_gfn(in), stride = 1 + u8(in) % 3, hpage = u8(in);
    int batch = (b >> 6) & 1, priv = (fb >> 1) & 1;
    uint32_t fd = priv ? (batch ? (uint32_t)g_files[FM_FILE_GMEM].fd : pick_fd(in)) : 0;
    enum kd_entry entry = priv && !batch ? KD_EXT : KD_R2;
    if (priv)
        flags = KVM_MEM_GUEST_MEMFD;
    if (n > room)
        n = room;
    if (n <= 0)
        return;
    readers_offline();
    uint64_t gen0 = M.gen[as];
    int applied = 0, changed = 0;
    for (int i = 0; i < n; i++) {
        r[i] = (struct kvm_userspace_memory_region2){ .slot = as << 16 | (uint32_t)(100 + i), .flags = flags,
                                                      .guest_phys_addr = (base + (uint64_t)i * stride) << 12,
                                                      .memory_size = FM_PAGE,
                                                      .userspace_addr = (uint64_t)g_area + ((hpage + (uint64_t)i) % AREA_PAGES) * FM_PAGE,
                                                      .guest_memfd = fd,
                                                      .guest_memfd_offset = priv ? ((hpage + (uint64_t)i) % AREA_PAGES) * FM_PAGE : 0 };
        enum fm_change ch;
        int want = fm_predict_region(&M, entry, &r[i], &ch);
        int rc = 0;
        if (!batch) {
            struct kd_op kop = { .entry = entry, .kind = "bulk", .r = r[i] };
            rc = kd_hvrt_apply(g_vm, &kop);
            EXPECT(rc == want, "bulk %s #%d gfn 0x%" PRIx64 ": hvrt %d, model %d", kd_entry_name[entry], i,
                   base + (uint64_t)i * stride, rc, want);
        }
        res[i] = want;
        applied += want == 0;
        if (want == 0 && ch != FM_NONE) {
            fm_apply_region(&M, entry, &r[i], ch);
            changed = 1;
            if (!batch)
                M.gen[as] += M.rules.nr_as;
        }
    }
    if (batch) {
        static int32_t got[KD_MAX_SLOTS];
        int rc = hvrt_set_user_memory_regions(g_vm, r, (size_t)n, got);
        note(op, rc);
        EXPECT_RC(rc, applied, "hvrt_set_user_memory_regions (bulk)");
        for (int i = 0; i < n; i++)
            EXPECT(got[i] == res[i], "bulk batch entry %d: hvrt %d, model %d", i, got[i], res[i]);
        M.gen[as] = gen0 + (changed ? M.rules.nr_as : 0);
    } else {
        note(op, applied);
    }
}

/* ---- translate ---- */

static struct fm_reader *pick_reader(struct in *in, void **ptr)
{
    uint8_t b = u8(in);
    if (M.nreaders && b < 240) {
        struct fm_reader *r = &M.readers[b % M.nreaders];
        *ptr = r->ptr;
        return r;
    }
    *ptr = b & 1 ? NULL : (void *)g_fake;
    return NULL;
}

static void op_translate_batch(struct in *in, int op)
{
    uint64_t gfns[8];
    struct hvrt_translation out[8];
    void *rp = NULL;
    int use_reader = u8(in) & 1;
    struct fm_reader *rd = use_reader ? pick_reader(in, &rp) : NULL;
    uint32_t as = pick_as(in);
    size_t n = u8(in) % 9;
    uint8_t mode = u8(in);
    for (size_t i = 0; i < n; i++)
        gfns[i] = pick_gfn(in);
    memset(out, 0xa5, sizeof out);
    int want;
    if (use_reader && !rd)
        want = rp ? -EBADF : -EFAULT;
    else if (rd && rd->st == FM_R_UNREGISTERED)
        want = -EBADF;
    else if (as >= M.rules.nr_as)
        want = -EINVAL;
    else if (rd && rd->st == FM_R_OFFLINE)
        want = -EPERM;
    else if (mode >= 250 && (mode & 1)) /* n > INT32_MAX */
        want = -EINVAL;
    else if (n == 0)
        want = 0;
    else if (mode >= 250) /* NULL gfns */
        want = -EFAULT;
    else {
        want = 0;
        for (size_t i = 0; i < n; i++) {
            struct hvrt_translation t;
            const struct kd_slot *s;
            if (expect_tr(as, gfns[i], &t, &s) == 0)
                want++;
        }
    }
    size_t nn = mode >= 250 && (mode & 1) ? (size_t)INT32_MAX + 1 : n;
    const uint64_t *g = mode >= 250 && !(mode & 1) ? NULL : gfns;
    int rc = use_reader ? hvrt_reader_translate_batch(rp, as, g, nn, out) : hvrt_translate_batch(g_vm, as, g, nn, out);
    note(op, rc);
    EXPECT_RC(rc, want, use_reader ? "hvrt_reader_translate_batch" : "hvrt_translate_batch");
    if (rc <= 0 && !(rc == 0 && n > 0 && mode < 250)) {
        for (size_t i = 0; i < 8; i++)
            EXPECT(!memcmp(&out[i], POISON, sizeof out[i]), "translate batch wrote out on %d", rc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct hvrt_translation t;
        const struct kd_slot *s;
        if (expect_tr(as, gfns[i], &t, &s) == 0) {
            check_tr_fields("translate batch", gfns[i], &out[i], &t, s);
        } else {
            struct hvrt_translation miss = { .result = -ENOENT, .generation = M.gen[as] };
            EXPECT(!memcmp(&out[i], &miss, sizeof miss), "translate batch miss gfn 0x%" PRIx64 ": result %d gen %" PRIu64
                   " (model gen %" PRIu64 "), other fields must be 0", gfns[i], out[i].result, out[i].generation, M.gen[as]);
        }
    }
}
#endif
