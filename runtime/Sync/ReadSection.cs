using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Memory;

namespace Hvrt.Sync;

/// <summary>
/// Read-side sections that need no registration (userspace-rcu's "memb" flavor): every thread
/// that reads gets a record on its first read, found again through a thread-static pointer.
/// Entering stores the current grace-period counter into the record, leaving stores 0; both are
/// plain stores, no atomic instruction and no fence on the reader's side.
///
/// Why that is enough: <see cref="Synchronize"/> runs after the writer has published the new
/// snapshot; it bumps the counter, then runs a process-wide barrier (<see cref="ProcessBarrier"/>),
/// then waits for every record whose counter is older and non-zero. The barrier executes a full
/// fence on each running thread at some point p between the publish and the scan. A reader whose
/// snapshot load came before p had stored its counter before that load in program order, and the
/// fence at p makes that store visible to the scan: the writer waits for it. A reader whose load
/// came after p sees the new snapshot (published before the barrier) and holds nothing old.
/// A reader that read the counter after the bump stores the new value and is not waited for; its
/// snapshot load comes after its counter load, so it too sees the new snapshot.
///
/// Records are shared by all VMs and never freed: a thread's record returns to the pool when the
/// thread dies (a finalizable owner in a thread-static), so a writer walking the list never reads
/// freed memory. Sections nest (a depth count), so a signal handler may read inside a read.
/// </summary>
internal static unsafe class ReadSection
{
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    internal struct ThreadRecord
    {
        /// <summary>0 outside a section, else the grace-period counter read on entry.</summary>
        public ulong Ctr;
        public uint Depth;
        public int InUse;
        public ThreadRecord* Next;

        /// <summary>
        /// Per-thread room for the reads this section protects, opaque here: Index keeps the
        /// thread's last hit of hvrt_translate in it (Index.LastHit), so a translation touches one
        /// thread-local record, not two.
        /// </summary>
        public ThreadScratch Scratch;
    }

    /// <summary>32 bytes in a <see cref="ThreadRecord"/>, written only by its thread.</summary>
    [InlineArray(4)]
    internal struct ThreadScratch
    {
        private ulong _word;
    }

    private static readonly Lock s_attach = new();
    private static ulong s_gp = 1;
    private static nint s_head; // ThreadRecord*, push-only list
    private static int s_records;

    /// <summary>Records ever allocated (tests: dead threads' records are reused).</summary>
    internal static int RecordsAllocated => Volatile.Read(ref s_records);

    [ThreadStatic]
    private static ThreadRecord* t_record;

    [ThreadStatic]
    private static RecordOwner? t_owner;

    /// <summary>
    /// Enters a read section; pass the result to <see cref="Exit"/>. Allocates only on a thread's
    /// first call; null (no section entered) only if that allocation failed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ThreadRecord* Enter()
    {
        ThreadRecord* r = t_record;
        if (r == null && (r = Attach()) == null)
        {
            return null;
        }
        if (r->Ctr != 0)
        {
            r->Depth++;
            return r;
        }
        // Ordered before the caller's snapshot load by the writer's process-wide barrier (see above).
        Volatile.Write(ref r->Ctr, Volatile.Read(ref s_gp));
        return r;
    }

    /// <summary>Leaves a read section: every load of the section happens before this release store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exit(ThreadRecord* r)
    {
        if (r->Depth != 0)
        {
            r->Depth--;
            return;
        }
        Volatile.Write(ref r->Ctr, 0);
    }

    /// <summary>Waits until no read section that could hold a snapshot replaced before this call remains (writer side).</summary>
    public static void Synchronize()
    {
        ulong gp = Interlocked.Increment(ref s_gp);
        ProcessBarrier.Run();
        var spin = new SpinWait();
        for (var r = (ThreadRecord*)Volatile.Read(ref s_head); r != null; r = r->Next)
        {
            ulong c;
            while ((c = Volatile.Read(ref r->Ctr)) != 0 && c < gp)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ThreadRecord* Attach()
    {
        try
        {
            return AttachLocked();
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }

    private static ThreadRecord* AttachLocked()
    {
        lock (s_attach)
        {
            var r = (ThreadRecord*)s_head;
            while (r != null && r->InUse != 0)
            {
                r = r->Next;
            }
            if (r == null)
            {
                r = (ThreadRecord*)NativeAlloc.Alloc((nuint)sizeof(ThreadRecord));
                if (r == null)
                {
                    throw new OutOfMemoryException();
                }
                r->Next = (ThreadRecord*)s_head;
                s_records++;
                // Release: a writer that finds the record sees it initialised.
                Volatile.Write(ref s_head, (nint)r);
            }
            var owner = new RecordOwner(r);
            r->InUse = 1;
            t_record = r;
            t_owner = owner;
            return r;
        }
    }

    /// <summary>Gives a dead thread's record back to the pool (its counter is 0: a thread dies outside any section).</summary>
    private sealed class RecordOwner
    {
        private readonly ThreadRecord* _record;

        public RecordOwner(ThreadRecord* record) => _record = record;

        ~RecordOwner()
        {
            lock (s_attach)
            {
                _record->Depth = 0;
                Volatile.Write(ref _record->InUse, 0);
            }
        }
    }
}
