using System;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Abi;
using Hvrt.Index;
using Hvrt.Memory;
using Hvrt.Platform;
using Hvrt.Sync;

namespace Hvrt.Slots;

/// <summary>
/// A VM's writer side: the slot sets, the private-file bindings, and the memslot update
/// (kvm_set_memory_region) with KVM's checks in KVM's order. One writer at a time (the lock);
/// every accepted change builds a new snapshot of its address space, publishes it, waits for a
/// grace period and frees the old one.
/// </summary>
internal sealed unsafe partial class Vm
{
    private readonly Lock _lock = new();
    private readonly SlotSet[] _sets;
    private readonly ulong[] _generations;
    private readonly PrivateBindings _bindings = new();
    private VmHandle* _handle;

    private Vm(VmRules rules, VmHandle* handle)
    {
        Rules = rules;
        _handle = handle;
        _sets = new SlotSet[rules.NrAddressSpaces];
        _generations = new ulong[rules.NrAddressSpaces];
        for (uint i = 0; i < rules.NrAddressSpaces; i++)
        {
            _sets[i] = new SlotSet();
            // Generations differ per address space (KVM: as_id, then += number of address spaces).
            _generations[i] = i;
        }
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
        handle->Stripes = (ReadStripe*)NativeAlloc.Alloc(ReadSection.Bytes);
        var vm = new Vm(rules, handle);
        handle->NrAddressSpaces = rules.NrAddressSpaces;
        for (uint i = 0; i < rules.NrAddressSpaces; i++)
        {
            Snapshot* empty = Snapshot.Create(i, vm._generations[i], 0);
            if (empty == null || handle->Stripes == null)
            {
                Snapshot.Free(empty);
                vm.FreeNative();
                handle = null;
                return -Errno.ENOMEM;
            }
            VmHandle.Publish(handle, i, empty);
        }
        handle->Managed = GCHandle.ToIntPtr(GCHandle.Alloc(vm));
        handle->Magic = VmHandle.LiveMagic;
        return 0;
    }

    public static Vm FromHandle(VmHandle* handle) => (Vm)GCHandle.FromIntPtr(handle->Managed).Target!;

    /// <summary>Frees everything the VM owns and closes its private-file duplicates.</summary>
    public void Destroy()
    {
        lock (_lock)
        {
            foreach (SlotSet set in _sets)
            {
                foreach (MemSlot s in set.ByGfn)
                {
                    if (s.PrivateFd >= 0)
                    {
                        Libc.Close(s.PrivateFd);
                    }
                }
            }
            _handle->Magic = 0;
            GCHandle.FromIntPtr(_handle->Managed).Free();
            FreeNative();
        }
    }

    private void FreeNative()
    {
        for (uint i = 0; i < VmHandle.MaxAddressSpaces; i++)
        {
            Snapshot.Free(VmHandle.Publish(_handle, i, null));
        }
        NativeAlloc.Free(_handle->Stripes, ReadSection.Bytes);
        ReaderRegistry.FreeAll(_handle);
        NativeAlloc.Free(_handle, (nuint)sizeof(VmHandle));
        _handle = null;
    }

    /// <summary>
    /// Allocates the next snapshot of an address space before the change it will show, so that an
    /// allocation failure leaves the VM exactly as it was.
    /// </summary>
    private Snapshot* AllocSnapshot(uint asId, int slotCount)
    {
        return Snapshot.Create(asId, _generations[asId] + Rules.NrAddressSpaces, (uint)slotCount);
    }

    /// <summary>Fills <paramref name="next"/> from the slot set, publishes it, waits a grace period, frees the old one.</summary>
    private void Publish(uint asId, Snapshot* next)
    {
        SlotSet set = _sets[asId];
        for (int i = 0; i < set.Count; i++)
        {
            MemSlot s = set.ByGfn[i];
            next->Keys[i] = s.BaseGfn;
            next->Entries[i] = new SlotEntry
            {
                BaseGfn = s.BaseGfn,
                NPages = s.NPages,
                Hva = s.Hva,
                PrivatePgoff = s.PrivatePgoff,
                PrivateFd = s.PrivateFd,
                KvmFlags = s.Flags,
                Slot = s.KvmSlot,
            };
        }
        _generations[asId] = next->Generation;
        Snapshot* old = VmHandle.Publish(_handle, asId, next);
        GracePeriod.Synchronize(_handle);
        Snapshot.Free(old);
    }
}
