using Hvrt.Attributes;
using Hvrt.Index;
using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Sync;
using VmState = Hvrt.Machine.Vm;

namespace Hvrt.RunLoop;

/// <summary>
/// hvrt_vcpu_handle_exit: decodes the exit KVM_RUN just made into the vCPU's
/// <see cref="HvrtExitInfo"/> and handles what concerns memory. The MMIO and "other" paths read
/// kvm_run and the published snapshot only: no allocation, no lock, no exception. Conversions are
/// writes: they take the VM's lock, with the vCPU's reader offline meanwhile (a slot change holds
/// that lock while it waits for every online reader, this one included).
/// </summary>
internal static unsafe class ExitHandler
{
    /// <summary>-KVM_EINVAL as the u64 the guest reads in RAX (kvm_para.h: KVM_EINVAL = EINVAL).</summary>
    public const ulong GuestEInval = unchecked((ulong)-Errno.EINVAL);

    /// <summary>-KVM_EFAULT: what the guest reads if a VMM resumes after a failed host-side conversion.</summary>
    public const ulong GuestEFault = unchecked((ulong)-Errno.EFAULT);

    /// <summary>attrs bits 63:5 must be 0 (Documentation/virt/kvm/x86/hypercalls.rst).</summary>
    private const ulong MapGpaRangeMbz = ~0x1FUL;

    /// <summary>Page-size hints the guest ABI defines: 0 (4K), 1 (2M), 2 (1G).</summary>
    private const ulong MaxPageSizeHint = 2;

    public static int Handle(Vcpu* v, int ret, int err)
    {
        byte* run = v->Run;
        ref HvrtExitInfo info = ref v->Info;
        info = default;
        info.Slot = uint.MaxValue;
        info.ExitReason = KvmRun.U32(run, KvmRun.ExitReason);
        bool prevFault = v->PrevFault != 0;
        v->PrevFault = 0;
        if (ret < 0)
        {
            // exit_reason is meaningful after -1 only with these two errnos (api.rst, MEMORY_FAULT_INFO).
            if ((err == Errno.EFAULT || err == Errno.EHWPOISON) && info.ExitReason == KvmApi.KVM_EXIT_MEMORY_FAULT)
            {
                return MemoryFault(v, err, prevFault);
            }
            if (err == Errno.EINTR || err == Errno.EAGAIN)
            {
                info.Kind = HvrtExitInfo.KindInterrupted;
                return HvrtExitInfo.Unhandled;
            }
            // -1 without a usable errno is a caller bug: no errno to pass on.
            int code = err > 0 ? -err : -Errno.EINVAL;
            info.Result = code;
            return code;
        }
        if (info.ExitReason == KvmApi.KVM_EXIT_MMIO)
        {
            return Mmio(v, run, ref info);
        }
        if (info.ExitReason == KvmApi.KVM_EXIT_HYPERCALL && KvmRun.U64(run, KvmRun.HcNr) == KvmApi.KVM_HC_MAP_GPA_RANGE)
        {
            return MapGpaRange(v, run, ref info);
        }
        return HvrtExitInfo.Unhandled;
    }

    /// <summary>
    /// KVM_EXIT_MEMORY_FAULT. EFAULT: the access's private/shared state differs from the page's,
    /// convert. EHWPOISON: KVM found the page poisoned after the states matched (guest_memfd), so
    /// it is no conversion request. A fault for a range already in the requested state is retried
    /// once (another vCPU may have converted it meanwhile); the same fault again straight after a
    /// resolved one is -EFAULT, since KVM would fault forever (e.g. a private access to a slot
    /// without private backing).
    /// </summary>
    private static int MemoryFault(Vcpu* v, int err, bool prevFault)
    {
        byte* run = v->Run;
        ref HvrtExitInfo info = ref v->Info;
        ulong flags = KvmRun.U64(run, KvmRun.FaultFlags);
        ulong gpa = KvmRun.U64(run, KvmRun.FaultGpa);
        ulong size = KvmRun.U64(run, KvmRun.FaultSize);
        bool priv = (flags & KvmApi.KVM_MEMORY_EXIT_FLAG_PRIVATE) != 0;
        info.Kind = HvrtExitInfo.KindMemoryFault;
        info.Gpa = gpa;
        info.Size = size;
        info.ToPrivate = priv ? 1u : 0u;
        if (err == Errno.EHWPOISON)
        {
            info.Result = -Errno.EHWPOISON;
            return -Errno.EHWPOISON;
        }
        // A flag hvrt does not know (a newer kernel's, e.g. a userfault proposal) may mean the
        // fault is no conversion request: leave it to the VMM, convert nothing.
        if ((flags & ~KvmApi.KVM_MEMORY_EXIT_FLAG_PRIVATE) != 0)
        {
            return HvrtExitInfo.Unhandled;
        }
        VmState vm = VmState.FromHandle(v->Vm);
        // No private memory in this VM type, or a range KVM never reports (size 0, unaligned,
        // wrapping): nothing hvrt can convert, KVM's fault stands.
        if ((vm.SupportedAttributes & MemAttr.Private) == 0 || size == 0 || ((gpa | size) & 4095) != 0 || gpa + size < gpa)
        {
            info.Result = -Errno.EFAULT;
            return -Errno.EFAULT;
        }
        bool repeated = prevFault && v->PrevFaultGpa == gpa && v->PrevFaultSize == size && v->PrevFaultFlags == flags;
        bool already = vm.Attributes.NextDiffering(gpa >> 12, (gpa + size) >> 12, priv) >= (gpa + size) >> 12;
        if (already && repeated)
        {
            info.Result = -Errno.EFAULT;
            return -Errno.EFAULT;
        }
        if (!already)
        {
            int r = ConvertOffline(v, vm, gpa, size, priv);
            if (r != 0)
            {
                info.Result = r;
                return r;
            }
        }
        v->PrevFault = 1;
        v->PrevFaultGpa = gpa;
        v->PrevFaultSize = size;
        v->PrevFaultFlags = flags;
        return HvrtExitInfo.Resume;
    }

    /// <summary>
    /// KVM_HC_MAP_GPA_RANGE (a0 gpa, a1 4 KiB pages, a2 attrs). KVM has already refused an
    /// unaligned gpa, npages 0 and a gfn overflow with -KVM_EINVAL; hvrt checks those again (a VMM
    /// may hand it anything) and what only userspace checks: attrs bits 63:5 zero, a page-size hint
    /// 0..2, and a range that ends below 2^64 (an end of 2^64 is not representable, as in
    /// KVM_SET_MEMORY_ATTRIBUTES). The hint is a preference (Linux guests always
    /// pass 4K; neither KVM nor QEMU require alignment to it), so it asks for no alignment.
    /// </summary>
    private static int MapGpaRange(Vcpu* v, byte* run, ref HvrtExitInfo info)
    {
        VmState vm = VmState.FromHandle(v->Vm);
        if ((vm.SupportedAttributes & MemAttr.Private) == 0)
        {
            // No private memory to convert (e.g. SEV, where the hypercall only reports page
            // encryption status for migration): the VMM's business.
            return HvrtExitInfo.Unhandled;
        }
        ulong gpa = KvmRun.U64(run, KvmRun.HcArgs);
        ulong npages = KvmRun.U64(run, KvmRun.HcArgs + 8);
        ulong attrs = KvmRun.U64(run, KvmRun.HcArgs + 16);
        bool priv = (attrs & KvmApi.KVM_MAP_GPA_RANGE_ENCRYPTED) != 0;
        info.Kind = HvrtExitInfo.KindMapGpaRange;
        info.Gpa = gpa;
        info.ToPrivate = priv ? 1u : 0u;
        bool valid = (attrs & MapGpaRangeMbz) == 0
            && (attrs & KvmApi.KVM_MAP_GPA_RANGE_PAGE_SZ_MASK) <= MaxPageSizeHint
            && (gpa & 4095) == 0
            && npages != 0
            && npages < (1UL << 52) - (gpa >> 12);
        if (!valid)
        {
            *(ulong*)(run + KvmRun.HcRet) = GuestEInval;
            info.Result = -Errno.EINVAL;
            return HvrtExitInfo.Resume;
        }
        info.Size = npages << 12;
        int r = ConvertOffline(v, vm, gpa, info.Size, priv);
        // A host failure stops the VM (as QEMU); should the VMM resume anyway, the guest must not
        // read success for a range that was not converted.
        *(ulong*)(run + KvmRun.HcRet) = r == 0 ? 0 : GuestEFault;
        info.Result = r;
        return r == 0 ? HvrtExitInfo.Resume : r;
    }

    /// <summary>Converts with the vCPU's reader offline (see the class comment), then brings it back.</summary>
    private static int ConvertOffline(Vcpu* v, VmState vm, ulong gpa, ulong size, bool priv)
    {
        ReaderRecord* reader = v->Reader;
        bool online = reader->Ctr != 0;
        if (online)
        {
            GracePeriod.Offline(reader);
        }
        try
        {
            return vm.Convert(gpa, size, priv ? 1 : 0);
        }
        finally
        {
            if (online)
            {
                GracePeriod.Online(&v->Vm->Grace, reader);
            }
        }
    }

    /// <summary>
    /// KVM_EXIT_MMIO: where phys_addr lies, from the published snapshot of the address space the
    /// vCPU was in (SMM: 1), through the vCPU's reader and its last-hit cache.
    /// </summary>
    private static int Mmio(Vcpu* v, byte* run, ref HvrtExitInfo info)
    {
        ulong gpa = KvmRun.U64(run, KvmRun.MmioPhysAddr);
        info.Kind = HvrtExitInfo.KindMmio;
        info.Gpa = gpa;
        info.Size = KvmRun.U32(run, KvmRun.MmioLen);
        info.IsWrite = run[KvmRun.MmioIsWrite] != 0 ? 1u : 0u;
        VmHandle* vm = v->Vm;
        uint asId = (*(ushort*)(run + KvmRun.Flags) & KvmRun.X86Smm) != 0 && vm->Read.NrAddressSpaces > 1 ? 1u : 0u;
        ulong gfn = gpa >> 12;
        ReaderRecord* reader = v->Reader;
        // The snapshot is protected by the reader being online; a VMM that calls this between
        // enter and exit gets it online for the lookup only.
        bool offline = reader->Ctr == 0;
        if (offline)
        {
            GracePeriod.Online(&v->Vm->Grace, reader);
        }
        SlotEntry* entry = Translator.ReaderFind(&vm->Read, ReaderRecord.CacheOf(reader, asId), asId, gfn, out _);
        uint kvmFlags = 0;
        if (entry != null)
        {
            info.Slot = entry->Slot;
            kvmFlags = entry->KvmFlags;
        }
        if (offline)
        {
            GracePeriod.Offline(reader);
        }
        if (VmLayout.PrivatePagesInUse(&vm->Read) && new AttributeView(vm->Read.AttributeRoot).Get(gfn) != 0)
        {
            info.MmioClass = HvrtExitInfo.MmioPrivate;
        }
        else if (entry == null)
        {
            info.MmioClass = HvrtExitInfo.MmioDevice;
        }
        else
        {
            info.MmioClass = (kvmFlags & SlotFlags.Readonly) != 0 && info.IsWrite != 0 ? HvrtExitInfo.MmioReadonlyWrite : HvrtExitInfo.MmioInSlot;
        }
        return HvrtExitInfo.Unhandled;
    }
}
