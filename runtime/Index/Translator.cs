using System.Runtime.CompilerServices;
using Hvrt.Attributes;
using Hvrt.Layout;
using Hvrt.Sync;

namespace Hvrt.Index;

/// <summary>
/// The one read path: every gfn translation hvrt answers is made here, by one recipe — protect
/// the snapshot (a read section, or a registered reader that is online), load it, try the last
/// hit, search, fill, add the attributes. The exports only decode their arguments and call in.
/// Lock-free and allocation-free (but a thread's very first read section, which gets its record).
/// Each recipe is inlined into its export: a call layer here cost the batches ~23 instructions a
/// call (callgrind, `./build.sh bench ab`), which the exports did not pay before the layering.
/// </summary>
internal static unsafe class Translator
{
    /// <summary>hvrt_translate after its argument checks: 0, -ENOENT (no slot) or -ENOMEM (no read-section record).</summary>
    public static int Translate(VmLayout* vm, uint asId, ulong gfn, HvrtTranslation* result)
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        Snapshot* s = VmLayout.Load(vm, asId);
        ulong generation = Snapshot.GenerationOf(s);
        ThreadHit* hit = LastHit.Of(section);
        SlotEntry* hint = LastHit.Get(hit, vm, asId, generation);
        SlotEntry* entry = Lookup.Find(s, gfn, ref hint);
        LastHit.Remember(hit, vm, asId, generation, hint);
        if (entry != null)
        {
            Fill(entry, gfn, generation, result);
            TranslationAttributes.Apply(vm, gfn, result);
        }
        ReadSection.Exit(section);
        return entry != null ? 0 : -Errno.ENOENT;
    }

    /// <summary>hvrt_translate_batch after its checks (n &gt; 0): the number of hits, or -ENOMEM.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TranslateBatch(VmLayout* vm, uint asId, ulong* gfns, nuint n, HvrtTranslation* output)
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        Snapshot* s = VmLayout.Load(vm, asId);
        ulong generation = Snapshot.GenerationOf(s);
        ThreadHit* hit = LastHit.Of(section);
        SlotEntry* hint = LastHit.Get(hit, vm, asId, generation);
        int hits = Lookup.Batch(s, generation, gfns, n, output, ref hint);
        TranslationAttributes.ApplyBatch(vm, gfns, n, output);
        LastHit.Remember(hit, vm, asId, generation, hint);
        ReadSection.Exit(section);
        return hits;
    }

    /// <summary>
    /// The entry of gfn for a registered reader that is online (no read section: nothing it loads
    /// is freed before its next quiescent state), through its cache; null when no slot holds gfn.
    /// The cache is the reader's own (one thread at a time).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* ReaderFind(VmLayout* vm, ReaderCache* c, uint asId, ulong gfn, out ulong generation)
    {
        Snapshot* s = VmLayout.Load(vm, asId);
        generation = Snapshot.GenerationOf(s);
        SlotEntry* hint = LastHit.Get(c, generation);
        SlotEntry* entry = Lookup.Find(s, gfn, ref hint);
        if (entry != null)
        {
            LastHit.Remember(c, generation, entry);
        }
        return entry;
    }

    /// <summary>hvrt_reader_translate after its checks: 0 or -ENOENT.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReaderTranslate(VmLayout* vm, ReaderCache* c, uint asId, ulong gfn, HvrtTranslation* result)
    {
        SlotEntry* entry = ReaderFind(vm, c, asId, gfn, out ulong generation);
        if (entry == null)
        {
            return -Errno.ENOENT;
        }
        Fill(entry, gfn, generation, result);
        TranslationAttributes.Apply(vm, gfn, result);
        return 0;
    }

    /// <summary>hvrt_reader_translate_batch after its checks (n &gt; 0): the number of hits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReaderTranslateBatch(VmLayout* vm, ReaderCache* c, uint asId, ulong* gfns, nuint n, HvrtTranslation* output)
    {
        Snapshot* s = VmLayout.Load(vm, asId);
        ulong generation = Snapshot.GenerationOf(s);
        SlotEntry* hint = LastHit.Get(c, generation);
        int hits = Lookup.Batch(s, generation, gfns, n, output, ref hint);
        TranslationAttributes.ApplyBatch(vm, gfns, n, output);
        if (hint != null)
        {
            LastHit.Remember(c, generation, hint);
        }
        return hits;
    }

    /// <summary>Fills t for gfn inside e (hvrt_translation_fill in hvrt_inline.h is the same).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fill(SlotEntry* e, ulong gfn, ulong generation, HvrtTranslation* t)
    {
        ulong offset = gfn - e->BaseGfn;
        uint f = e->TrFlags;
        t->Slot = e->Slot;
        t->Flags = f;
        t->BaseGfn = e->BaseGfn;
        t->NPages = e->NPages;
        t->Hva = e->Hva + (offset << 12);
        // Branch-free: the page inside the private file, or 0 without one (RyuJIT keeps ternaries
        // in loops as branches, and Fill is inlined into the batch loop).
        t->PrivatePgoff = (e->PrivatePgoff + offset) & (0 - (ulong)((f >> 3) & 1));
        t->PrivateFd = e->PrivateFd;
        t->Result = 0;
        t->RunPages = e->NPages - offset;
        t->Generation = generation;
    }
}
