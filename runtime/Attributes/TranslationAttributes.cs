using System.Runtime.CompilerServices;
using Hvrt.Layout;

namespace Hvrt.Attributes;

/// <summary>
/// Puts the attributes into a translation: HVRT_TR_PRIVATE when the gfn is private, and run_pages
/// shortened to the first page whose attributes differ. A VM that never had a private page pays
/// one load; the others walk the store from the handle's root (lock-free, no managed state) and
/// scan at most <see cref="MaxLookAhead"/> pages, so a huge uniform slot never costs a long scan
/// per call.
/// </summary>
internal static unsafe class TranslationAttributes
{
    /// <summary>One attribute chunk (1 GiB): run_pages is at most this when attributes are in use.</summary>
    public const ulong MaxLookAhead = AttributeStore.ChunkPages;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Apply(VmLayout* vm, ulong gfn, HvrtTranslation* t)
    {
        if (VmLayout.PrivatePagesInUse(vm))
        {
            ApplyFromStore(new AttributeView(vm->AttributeRoot), gfn, t);
        }
    }

    /// <summary>The hits of a batch (result 0).</summary>
    public static void ApplyBatch(VmLayout* vm, ulong* gfns, nuint n, HvrtTranslation* output)
    {
        if (!VmLayout.PrivatePagesInUse(vm))
        {
            return;
        }
        var store = new AttributeView(vm->AttributeRoot);
        for (nuint i = 0; i < n; i++)
        {
            if (output[i].Result == 0)
            {
                ApplyFromStore(store, gfns[i], output + i);
            }
        }
    }

    private static void ApplyFromStore(AttributeView store, ulong gfn, HvrtTranslation* t)
    {
        bool isPrivate = store.Get(gfn) != 0;
        if (isPrivate)
        {
            t->Flags |= HvrtTranslation.FlagPrivate;
        }
        ulong look = t->RunPages < MaxLookAhead ? t->RunPages : MaxLookAhead;
        // The gfn itself counts with the attributes just read; the scan starts after it. Scanning
        // from gfn, a conversion between the read and the scan made gfn "differ" and the run
        // empty (run_pages 0, which hvrt.h rules out: a VMM walking runs would loop forever).
        t->RunPages = look <= 1 ? look : store.NextDiffering(gfn + 1, gfn + look, isPrivate) - gfn;
    }
}
