using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Sync;

namespace Hvrt.Index;

/// <summary>
/// The last hit an unregistered translation on this thread found, keyed by VM serial, address
/// space and snapshot generation. Kept in the thread's read-section record (its scratch room), so
/// a translation touches one thread-local record. Used only inside a read section and only if the
/// current snapshot of that VM and address space has that generation: serials and generations are
/// never reused, so a match proves the entry belongs to the snapshot the section protects.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ThreadHit
{
    public ulong VmSerial;
    public ulong Generation;
    public SlotEntry* Entry;
    public uint AsId;
}

/// <summary>
/// The last-hit caches of the read paths: a thread's (<see cref="ThreadHit"/>) for hvrt_translate
/// and its batch, a registered reader's (<see cref="ReaderCache"/>, one per address space, in the
/// frozen reader layout that hvrt_inline.h also writes) for hvrt_reader_* and the exit handler.
/// </summary>
internal static unsafe class LastHit
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ThreadHit* Of(ReadSection.ThreadRecord* section)
    {
        Debug.Assert(sizeof(ThreadHit) <= sizeof(ReadSection.ThreadScratch), "the hit fits the record's scratch room");
        return (ThreadHit*)&section->Scratch;
    }

    /// <summary>This thread's last hit if it lies in the snapshot of (vm, asId) with this generation, else null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* Get(ThreadHit* hit, VmLayout* vm, uint asId, ulong generation)
        => hit->VmSerial == vm->Serial && hit->AsId == asId && hit->Generation == generation ? hit->Entry : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Remember(ThreadHit* hit, VmLayout* vm, uint asId, ulong generation, SlotEntry* entry)
    {
        if (entry != null)
        {
            *hit = new ThreadHit { VmSerial = vm->Serial, Generation = generation, Entry = entry, AsId = asId };
        }
    }

    /// <summary>A reader's cached entry if it lies in the snapshot with this generation, else null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* Get(ReaderCache* c, ulong generation) => c->Generation == generation ? c->Entry : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Remember(ReaderCache* c, ulong generation, SlotEntry* entry)
    {
        c->Generation = generation;
        c->Entry = entry;
    }
}
