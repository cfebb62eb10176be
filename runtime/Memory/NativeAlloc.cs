using System;
using System.Runtime.InteropServices;
using Hvrt.Testing;

namespace Hvrt.Memory;

/// <summary>
/// The one place hvrt allocates and frees unmanaged memory. Blocks are cache-line aligned and
/// zeroed. With HVRT_POISON=1 in the environment, freed blocks are filled with 0xA5 first, so a
/// reader that touches reclaimed memory sees garbage that tests detect. Every allocation is a
/// fault-injection site (<see cref="FaultSite.Alloc"/>) except <see cref="AllocPermanent"/>.
/// </summary>
internal static unsafe class NativeAlloc
{
    public const nuint CacheLine = 64;
    public const byte PoisonByte = 0xA5;

    private static readonly bool s_poison = Environment.GetEnvironmentVariable("HVRT_POISON") == "1";

    public static bool PoisonEnabled => s_poison;

    /// <summary>Zeroed, 64-byte aligned block, or null when out of memory (or made to fail by a test).</summary>
    public static void* Alloc(nuint bytes)
    {
        if (FaultInjection.Armed && FaultInjection.Hit(FaultSite.Alloc) != 0)
        {
            return null;
        }
        return AllocPermanent(bytes);
    }

    /// <summary>
    /// <see cref="Alloc"/> without the fault-injection site, for process-wide blocks made once in a
    /// type initializer (the attribute store's sentinels): a fault there would fail the type for
    /// the life of the process, not one call.
    /// </summary>
    public static void* AllocPermanent(nuint bytes)
    {
        if (bytes == 0)
        {
            bytes = CacheLine;
        }
        void* p;
        try
        {
            p = NativeMemory.AlignedAlloc(bytes, CacheLine);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
        NativeMemory.Clear(p, bytes);
        return p;
    }

    public static void Free(void* p, nuint bytes)
    {
        if (p == null)
        {
            return;
        }
        if (s_poison)
        {
            NativeMemory.Fill(p, bytes == 0 ? CacheLine : bytes, PoisonByte);
        }
        NativeMemory.AlignedFree(p);
    }
}
