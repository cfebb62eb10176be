using System.Collections.Generic;
using System.Threading;
using Hvrt.Layout;
using Hvrt.Memory;

namespace Hvrt.Sync;

/// <summary>
/// A VM's registered readers. Every record ever allocated sits on one native list
/// (<see cref="GraceDomain.Readers"/>, linked through <see cref="ReaderRecord.Next"/>) that only
/// grows while the VM lives: a writer walks it with no lock while readers register and
/// unregister, and the registry lock is never held by a writer, so a writer waiting for a reader
/// cannot block registration.
///
/// Records are never freed before the VM is destroyed (<see cref="FreeAll"/>): unregister marks a
/// record free and puts it on a free list that register reuses. So a writer holding a pointer to a
/// record that was unregistered meanwhile reads a valid record (ctr 0: offline) and never freed
/// memory, and a stale <c>hvrt_reader *</c> gets -EBADF instead of a use-after-free, until the
/// record is handed out again. In debug mode (HVRT_DEBUG=1) records are never handed out again
/// (an unregistered one stays on the list, offline, until the VM is destroyed) and the destroy
/// quarantines them (<see cref="Quarantine"/>), so a stale reader is -EBADF for good.
/// </summary>
internal sealed unsafe class ReaderRegistry
{
    private readonly Lock _lock = new();
    private readonly Stack<nint> _free = new();

    /// <summary>A new or reused record for vm (whose readers d holds), online, with an empty cache; or -ENOMEM.</summary>
    public int Register(GraceDomain* d, VmLayout* vm, out ReaderRecord* reader)
    {
        lock (_lock)
        {
            // A reader stores the counter it observes, and 0 means offline: start the counter at
            // 1 before the first reader can observe it (writers that ran before only raised it).
            Interlocked.CompareExchange(ref d->Counter, 1UL, 0UL);
            ReaderRecord* r;
            bool fresh = !_free.TryPop(out nint reused);
            if (fresh)
            {
                r = (ReaderRecord*)NativeAlloc.Alloc(ReaderRecord.AllocBytes);
                if (r == null)
                {
                    reader = null;
                    return -Errno.ENOMEM;
                }
                r->Vm = vm;
            }
            else
            {
                r = (ReaderRecord*)reused;
            }
            r->Cache0 = ReaderCache.Empty;
            r->Cache1 = ReaderCache.Empty;
            GracePeriod.Online(d, r);
            r->Magic = DebugMode.Enabled ? ReaderRecord.DebugLiveMagic : ReaderRecord.LiveMagic;
            if (fresh)
            {
                r->Next = d->Readers;
                // Full fence: the record (ctr included) is complete before a writer can reach it,
                // and this store is ordered before the caller's first load of a snapshot pointer
                // (see GracePeriod's header); pairs with the writer's Increment before its walk.
                Interlocked.Exchange(ref *(nint*)&d->Readers, (nint)r);
            }
            reader = r;
            return 0;
        }
    }

    /// <summary>Takes the reader offline and onto the free list; -EBADF if it is not registered.</summary>
    public int Unregister(ReaderRecord* r)
    {
        lock (_lock)
        {
            if (!ReaderRecord.IsLive(r))
            {
                return -Errno.EBADF;
            }
            // Push first: if the stack cannot grow, the reader stays registered and nothing changed.
            // Debug mode never reuses a record, so a stale pointer cannot become live again.
            if (!DebugMode.Enabled)
            {
                _free.Push((nint)r);
            }
            GracePeriod.Offline(r);
            r->Cache0 = ReaderCache.Empty;
            r->Cache1 = ReaderCache.Empty;
            r->Magic = ReaderRecord.FreeMagic;
            return 0;
        }
    }

    /// <summary>Readers of the domain still registered (vCPUs' included): hvrt_vm_destroy_checked's -EBUSY.</summary>
    public static int CountRegistered(GraceDomain* d)
    {
        int n = 0;
        for (var r = (ReaderRecord*)Volatile.Read(ref *(nint*)&d->Readers); r != null; r = r->Next)
        {
            n += ReaderRecord.IsLive(r) ? 1 : 0;
        }
        return n;
    }

    /// <summary>Frees (debug mode: quarantines) every record of the domain (VM destroy; no reader or writer may run).</summary>
    public static void FreeAll(GraceDomain* d)
    {
        ReaderRecord* r = d->Readers;
        d->Readers = null;
        while (r != null)
        {
            ReaderRecord* next = r->Next;
            Quarantine.Retire(r, ReaderRecord.AllocBytes);
            r = next;
        }
    }
}
