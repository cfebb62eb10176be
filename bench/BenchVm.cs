using System;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Bench;

/// <summary>
/// VMs for the suites, made and changed through the exports' unmanaged function pointers as a
/// C caller would (tests/Support/Ffi.cs does the same).
/// </summary>
internal static unsafe class BenchVm
{
    public static VmHandle* Create()
    {
        delegate* unmanaged[Cdecl]<byte*, VmHandle**, int> create = &ExportsVm.VmCreate;
        VmHandle* vm;
        Check(create(null, &vm), "hvrt_vm_create");
        return vm;
    }

    /// <summary>A new VM holding <paramref name="slots"/>, made with one hvrt_set_user_memory_regions call.</summary>
    public static VmHandle* CreateWith(GuestSlot[] slots)
    {
        VmHandle* vm = Create();
        SetAll(vm, SlotLayout.Requests(slots));
        return vm;
    }

    public static void SetAll(VmHandle* vm, KvmUserspaceMemoryRegion2[] requests)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmUserspaceMemoryRegion2*, nuint, int*, int> setMany = &ExportsSlots.SetUserMemoryRegions;
        fixed (KvmUserspaceMemoryRegion2* r = requests)
        {
            int applied = setMany(vm, r, (nuint)requests.Length, null);
            if (applied != requests.Length)
            {
                throw new InvalidOperationException($"hvrt_set_user_memory_regions applied {applied} of {requests.Length}");
            }
        }
    }

    public static int Set(VmHandle* vm, uint slot, uint flags, ulong gfn, ulong npages, ulong hva)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmUserspaceMemoryRegion*, int> set = &ExportsSlots.SetUserMemoryRegion;
        var r = new KvmUserspaceMemoryRegion { Slot = slot, Flags = flags, GuestPhysAddr = gfn << 12, MemorySize = npages << 12, UserspaceAddr = hva };
        return set(vm, &r);
    }

    public static void Destroy(VmHandle* vm)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, void> destroy = &ExportsVm.VmDestroy;
        destroy(vm);
    }

    public static void Check(int r, string what)
    {
        if (r != 0)
        {
            throw new InvalidOperationException($"{what}: {r}");
        }
    }
}
