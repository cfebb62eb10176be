using System.Threading;
using Hvrt.Attributes;
using Hvrt.Layout;

namespace Hvrt.Machine;

/// <summary>
/// The VM's memory attributes (KVM_SET_MEMORY_ATTRIBUTES): per VM and per gfn, independent of
/// slots and address spaces. Changes run under the VM's lock; reads walk the store without it.
/// </summary>
internal sealed unsafe partial class Vm
{
    private AttributeStore? _attributes;

    /// <summary>The store; readers use it without the lock (see <see cref="AttributeStore"/>).</summary>
    public AttributeStore Attributes => _attributes!;

    /// <summary>kvm_supported_mem_attributes: PRIVATE for VM types with private memory, else nothing.</summary>
    public ulong SupportedAttributes => Rules.TakesPrivateAttribute ? MemAttr.Private : 0;

    /// <summary>Makes the store and gives its root to the readers (VmLayout.AttributeRoot).</summary>
    private bool CreateAttributes()
    {
        _attributes = AttributeStore.Create();
        if (_attributes == null)
        {
            return false;
        }
        _handle->Read.AttributeRoot = _attributes.Root;
        return true;
    }

    private void FreeAttributes()
    {
        _handle->Read.AttributeRoot = 0;
        _attributes?.Free();
        _attributes = null;
    }

    /// <summary>
    /// kvm_vm_ioctl_set_mem_attributes: the checks in the kernel's order (all -EINVAL), then the
    /// change under the lock. gfns beyond the VM's max gfn are accepted as the kernel accepts them
    /// (it checks neither memslots nor MAXPHYADDR): the store covers every gfn below 2^52.
    /// </summary>
    public int SetMemoryAttributes(in KvmMemoryAttributes a)
    {
        if (a.Flags != 0)
        {
            return -Errno.EINVAL;
        }
        if ((a.Attributes & ~SupportedAttributes) != 0)
        {
            return -Errno.EINVAL;
        }
        if (a.Size == 0 || a.Address + a.Size < a.Address)
        {
            return -Errno.EINVAL;
        }
        if ((a.Address & 4095) != 0 || (a.Size & 4095) != 0)
        {
            return -Errno.EINVAL;
        }
        ulong start = a.Address >> 12;
        ulong end = (a.Address + a.Size) >> 12;
        lock (_lock)
        {
            if (InCallback)
            {
                return -Errno.EDEADLK;
            }
            bool isPrivate = (a.Attributes & MemAttr.Private) != 0;
            // Reserved first: -ENOMEM comes before KVM is asked and before the inline readers'
            // limit drops, and the SetRange below cannot fail.
            int r = Attributes.Reserve(start, end, isPrivate);
            // A bound KVM that takes PRIVATE gets the change next; its refusal changes nothing here.
            if (r == 0)
            {
                r = Kvm.SetAttributes(Attributes, start, end, isPrivate);
            }
            if (r != 0)
            {
                return r;
            }
            if (isPrivate)
            {
                VmLayout.MarkPrivatePagesInUse(&_handle->Read);
            }
            return Attributes.SetRange(start, end, isPrivate);
        }
    }
}
