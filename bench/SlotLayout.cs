using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Abi;
using Hvrt.Layout;

namespace Hvrt.Bench;

/// <summary>One guest memory slot as a VMM would keep it in its own table (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GuestSlot
{
    public ulong BaseGfn;
    public ulong NPages;
    public ulong Hva;
    public uint Id;
    public uint Flags;
}

/// <summary>
/// Seeded slot layouts and lookup streams, the shape of the issue "Lock-free translation at
/// scale" (and of bench/native/translate_bench.c): slots of 2 MiB in gfn order, each after a gap
/// of 1..4 × 2 MiB, host mappings 4 MiB apart, ids shuffled as a VMM hands them out over time.
/// </summary>
internal static class SlotLayout
{
    public const ulong SlotPages = 512;
    private const ulong HvaBase = 0x1000_0000_0000;

    /// <summary>Builds <paramref name="count"/> slots in gfn order.</summary>
    public static GuestSlot[] Build(int count, int seed)
    {
        var rng = new Random(seed);
        var slots = new GuestSlot[count];
        ulong gfn = 0;
        for (int i = 0; i < count; i++)
        {
            gfn += SlotPages * (ulong)(1 + rng.Next(4));
            slots[i] = new GuestSlot { BaseGfn = gfn, NPages = SlotPages, Hva = HvaBase + (ulong)i * (4UL << 20), Id = (uint)i };
            gfn += SlotPages;
        }
        uint[] ids = new uint[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = (uint)i;
        }
        rng.Shuffle(ids);
        for (int i = 0; i < count; i++)
        {
            slots[i].Id = ids[i];
        }
        return slots;
    }

    /// <summary>
    /// Random lookups: about <paramref name="missPercent"/>% miss (a gap, below the first slot
    /// or up to 8 MiB past the last), the rest hit a uniformly chosen slot at a uniformly chosen page.
    /// </summary>
    public static void FillRandom(GuestSlot[] slots, Span<ulong> gfns, int missPercent, int seed)
    {
        var rng = new Random(seed);
        GuestSlot last = slots[^1];
        ulong limit = last.BaseGfn + last.NPages + 4 * SlotPages;
        for (int i = 0; i < gfns.Length; i++)
        {
            if (rng.Next(100) < missPercent)
            {
                ulong gfn;
                do
                {
                    gfn = (ulong)rng.NextInt64((long)limit);
                }
                while (Find(slots, gfn) >= 0);
                gfns[i] = gfn;
            }
            else
            {
                GuestSlot s = slots[rng.Next(slots.Length)];
                gfns[i] = s.BaseGfn + (ulong)rng.NextInt64((long)s.NPages);
            }
        }
    }

    /// <summary>Sequential lookups: every page of consecutive slots in order (gaps skipped), wrapping.</summary>
    public static void FillSequential(GuestSlot[] slots, Span<ulong> gfns)
    {
        int k = 0;
        ulong p = 0;
        for (int i = 0; i < gfns.Length; i++)
        {
            gfns[i] = slots[k].BaseGfn + p;
            if (++p == slots[k].NPages)
            {
                p = 0;
                k = k + 1 == slots.Length ? 0 : k + 1;
            }
        }
    }

    /// <summary>The index of the slot holding gfn, or -1 (three-way binary search; KVM's search_memslots shape).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Find(GuestSlot[] slots, ulong gfn)
    {
        int lo = 0;
        int hi = slots.Length - 1;
        while (lo <= hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            ref GuestSlot s = ref slots[mid];
            if (gfn < s.BaseGfn)
            {
                hi = mid - 1;
            }
            else if (gfn - s.BaseGfn >= s.NPages)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }
        return -1;
    }

    /// <summary>The slots as KVM_SET_USER_MEMORY_REGION2 requests (for hvrt_set_user_memory_regions).</summary>
    public static KvmUserspaceMemoryRegion2[] Requests(GuestSlot[] slots)
    {
        var r = new KvmUserspaceMemoryRegion2[slots.Length];
        for (int i = 0; i < slots.Length; i++)
        {
            r[i] = new KvmUserspaceMemoryRegion2
            {
                Slot = slots[i].Id,
                Flags = slots[i].Flags,
                GuestPhysAddr = slots[i].BaseGfn << 12,
                MemorySize = slots[i].NPages << 12,
                UserspaceAddr = slots[i].Hva,
            };
        }
        return r;
    }
}
