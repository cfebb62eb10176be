using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Memory;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Machine;

/// <summary>
/// A VM's writer side: the slot sets, the private-file bindings, and the memslot update
/// (kvm_set_memory_region) with KVM's checks in KVM's order. One writer at a time (the lock);
/// every accepted change builds a new snapshot of its address space, publishes it, waits for a
/// grace period and frees what only the old one used.
/// </summary>
internal sealed unsafe partial class Vm : IPrivatePageBindings
{
    private static long s_serials;
    private readonly Lock _lock = new();
    private readonly SlotSet[] _sets;
    private readonly SnapshotBuilder[] _builders;
    private readonly PrivateFiles _privateFiles = new();
    private readonly SlotRules _slotRules;
    private readonly List<(int Fd, (ulong Dev, ulong Ino) File)> _fdsToClose = new();
    private VmHandle* _handle;

    private Vm(VmRules rules, VmHandle* handle)
    {
        Rules = rules;
        _handle = handle;
        _sets = new SlotSet[rules.NrAddressSpaces];
        _builders = new SnapshotBuilder[rules.NrAddressSpaces];
        for (uint i = 0; i < rules.NrAddressSpaces; i++)
        {
            _sets[i] = new SlotSet();
            _builders[i] = new SnapshotBuilder();
        }
        _slotRules = new SlotRules(rules, _sets, this);
    }

    public VmRules Rules { get; }

    public VmHandle* Handle => _handle;

    public static int Create(VmRules rules, out VmHandle* handle)
    {
        handle = (VmHandle*)NativeAlloc.Alloc((nuint)sizeof(VmHandle));
        if (handle == null)
        {
            return -Errno.ENOMEM;
        }
        var vm = new Vm(rules, handle);
        if (!vm.CreateAttributes())
        {
            NativeAlloc.Free(handle, (nuint)sizeof(VmHandle));
            handle = null;
            return -Errno.ENOMEM;
        }
        handle->Read.NrAddressSpaces = rules.NrAddressSpaces;
        handle->Read.InlineAsLimit = rules.NrAddressSpaces;
        handle->Read.Serial = (ulong)Interlocked.Increment(ref s_serials);
        for (uint i = 0; i < rules.NrAddressSpaces; i++)
        {
            Snapshot* empty = Snapshots.Alloc(0, 0, 0);
            if (empty == null)
            {
                Snapshots.Free(empty);
                vm.FreeNative();
                handle = null;
                return -Errno.ENOMEM;
            }
            empty->AsId = i;
            // Generations differ per address space (KVM: as_id, then += number of address spaces).
            empty->Generation = i;
            VmLayout.Publish(&handle->Read, i, empty);
        }
        handle->Read.Managed = GCHandle.ToIntPtr(GCHandle.Alloc(vm));
        handle->Read.Magic = VmLayout.LiveMagic;
        return 0;
    }

    public static Vm FromHandle(VmHandle* handle) => (Vm)GCHandle.FromIntPtr(handle->Read.Managed).Target!;

    /// <summary>Frees everything the VM owns and closes its private-file duplicates.</summary>
    public void Destroy()
    {
        lock (_lock)
        {
            _privateFiles.CloseAll();
            _handle->Read.Magic = 0;
            GCHandle.FromIntPtr(_handle->Read.Managed).Free();
            FreeNative();
        }
    }

    private void FreeNative()
    {
        for (uint i = 0; i < VmLayout.MaxAddressSpaces; i++)
        {
            Snapshot* s = VmLayout.Publish(&_handle->Read, i, null);
            if (i < _builders.Length)
            {
                _builders[i].Destroy(s);
            }
            Snapshots.Free(s);
        }
        ReaderRegistry.FreeAll(&_handle->Grace);
        FreeAttributes();
        FreeDirtyLog();
        Quarantine.Retire(_handle, (nuint)sizeof(VmHandle));
        _handle = null;
    }

    /// <summary>The builder of an address space's next snapshot, started from the published one on first use.</summary>
    private SnapshotBuilder Change(uint asId)
    {
        SnapshotBuilder b = _builders[asId];
        if (!b.Active)
        {
            b.Begin(VmLayout.Load(&_handle->Read, asId));
        }
        return b;
    }

    /// <summary>
    /// Publishes every address space changed since the last commit, waits one grace period for
    /// all of them, then frees what the old snapshots alone used and closes the private-file
    /// duplicates of deleted slots (no reader can still report them).
    /// </summary>
    private void Commit()
    {
        Snapshot** old = stackalloc Snapshot*[VmLayout.MaxAddressSpaces];
        bool published = false;
        for (uint i = 0; i < _builders.Length; i++)
        {
            old[i] = null;
            SnapshotBuilder b = _builders[i];
            if (!b.Active)
            {
                continue;
            }
            if (!b.Dirty)
            {
                b.Abort();
                continue;
            }
            // The published snapshot carries the generation (only the writer sets its top bit).
            Snapshot* current = VmLayout.Load(&_handle->Read, i);
            ulong generation = (current->Generation & ~Snapshot.GenUpdateInProgress) + Rules.NrAddressSpaces;
            Snapshot* next = b.Finish(i, generation);
            SnapshotBuilder.MarkUpdateInProgress(current);
            old[i] = VmLayout.Publish(&_handle->Read, i, next);
            published = true;
        }
        if (!published)
        {
            return;
        }
        GracePeriod.Synchronize(&_handle->Grace);
        for (uint i = 0; i < _builders.Length; i++)
        {
            if (old[i] != null)
            {
                Snapshots.Free(old[i]);
                _builders[i].AfterGracePeriod();
            }
        }
        FreeRetiredDirtyBitmaps();
        foreach ((int fd, (ulong, ulong) file) in _fdsToClose)
        {
            PrivateFiles.CloseIfStill(fd, file);
        }
        _fdsToClose.Clear();
    }
}
