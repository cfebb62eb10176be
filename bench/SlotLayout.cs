using System;
using System.Runtime.InteropServices;

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
/// Seeded, realistic slot layouts and lookup streams: non-overlapping slots sorted by gfn,
/// sizes and gaps log-uniform between 2 MiB and 1 GiB (many small slots — ROMs, VRAM, split
/// RAM — and a few large ones), a quarter of the slots adjacent to the previous one.
/// </summary>
internal static class SlotLayout
{
    private const ulong Unit = 2UL << 20;
    private const ulong MaxUnits = (1UL << 30) / Unit;
    private const ulong HvaBase = 0x1000_0000_0000;

    /// <summary>Builds <paramref name="count"/> slots in gfn order; ids are shuffled as a VMM hands them out over time.</summary>
    public static GuestSlot[] Build(int count, int seed)
    {
        var rng = new Random(seed);
        var slots = new GuestSlot[count];
        ulong gpa = LogUniformUnits(rng) * Unit;
        ulong hva = HvaBase;
        for (int i = 0; i < count; i++)
        {
            ulong size = LogUniformUnits(rng) * Unit;
            slots[i] = new GuestSlot { BaseGfn = gpa >> 12, NPages = size >> 12, Hva = hva, Id = (uint)i };
            // Host mappings are disjoint too, 2 MiB apart so no two slots share a huge page.
            hva += size + Unit;
            gpa += size;
            if (rng.Next(4) != 0)
            {
                gpa += LogUniformUnits(rng) * Unit;
            }
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
    /// Fills <paramref name="gfns"/> with lookups: about <paramref name="missPercent"/>% miss
    /// (a gap, below the first slot or up to 1 GiB past the last), the rest hit a uniformly
    /// chosen slot at a uniformly chosen page.
    /// </summary>
    public static void FillGfns(GuestSlot[] slots, Span<ulong> gfns, int missPercent, int seed)
    {
        var rng = new Random(seed);
        GuestSlot last = slots[^1];
        ulong limit = last.BaseGfn + last.NPages + ((1UL << 30) >> 12);
        for (int i = 0; i < gfns.Length; i++)
        {
            if (rng.Next(100) < missPercent)
            {
                ulong gfn;
                do
                {
                    gfn = (ulong)rng.NextInt64((long)limit);
                }
                while (Contains(slots, gfn));
                gfns[i] = gfn;
            }
            else
            {
                GuestSlot s = slots[rng.Next(slots.Length)];
                gfns[i] = s.BaseGfn + (ulong)rng.NextInt64((long)s.NPages);
            }
        }
    }

    private static bool Contains(GuestSlot[] slots, ulong gfn)
    {
        foreach (GuestSlot s in slots)
        {
            if (gfn - s.BaseGfn < s.NPages)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>1..512 units of 2 MiB, log-uniform: every power of two from 2 MiB to 1 GiB is as likely.</summary>
    private static ulong LogUniformUnits(Random rng)
    {
        ulong units = (ulong)Math.Round(Math.Exp(rng.NextDouble() * Math.Log(MaxUnits)));
        return Math.Clamp(units, 1, MaxUnits);
    }
}
