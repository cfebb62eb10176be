using System.Runtime.CompilerServices;
using Hvrt.Attributes;
using Hvrt.Layout;
using Hvrt.Sync;

namespace Hvrt.Index;

/// <summary>
/// hvrt_max_mapping_level after its checks: the largest level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB)
/// at which gfn may be mapped — the aligned frame lies inside gfn's slot, gfn and the slot's hva
/// (and private page) are aligned alike, and the frame is not mixed. Lock-free (read section),
/// allocation-free; -ENOENT outside every slot, -ENOMEM without a read-section record.
/// </summary>
internal static unsafe class MappingLevel
{
    public static int Max(VmLayout* vm, uint asId, ulong gfn)
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        Snapshot* s = VmLayout.Load(vm, asId);
        SlotEntry* entry = Search.Find(s, gfn);
        int level = entry == null ? -Errno.ENOENT : LevelOf(entry, new AttributeView(vm->AttributeRoot), gfn);
        ReadSection.Exit(section);
        return level;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LevelOf(SlotEntry* e, AttributeView store, ulong gfn)
    {
        if (!FrameFits(e, gfn, 9) || store.Mixed2M(gfn))
        {
            return 1;
        }
        if (!FrameFits(e, gfn, 18) || store.Mixed1G(gfn))
        {
            return 2;
        }
        return 3;
    }

    /// <summary>The aligned frame of 2^shift pages around gfn lies in the slot, and the slot's hva and private page are aligned as its gfn.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool FrameFits(SlotEntry* e, ulong gfn, int shift)
    {
        ulong n = 1UL << shift;
        ulong frame = gfn & ~(n - 1);
        if (frame < e->BaseGfn || frame + n > e->BaseGfn + e->NPages)
        {
            return false;
        }
        if (((e->BaseGfn ^ (e->Hva >> 12)) & (n - 1)) != 0)
        {
            return false;
        }
        return (e->KvmFlags & SlotFlags.Private) == 0 || ((e->BaseGfn ^ e->PrivatePgoff) & (n - 1)) == 0;
    }
}
