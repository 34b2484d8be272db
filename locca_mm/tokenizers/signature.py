"""The check that samples were tokenised by the model's own tokenizer."""


def check_signature(data_samples, ours: str) -> None:
    """Raise if a sample was tokenised by another tokenizer than the one whose
    :attr:`LocCaTokenizer.signature` is ``ours`` (its ``tokenizer_signature`` metainfo
    differs): ids of one vocabulary trained as another's are wrong training, not an error."""
    for sample in data_samples or []:
        theirs = sample.metainfo.get('tokenizer_signature')
        if theirs is not None and theirs != ours:
            raise ValueError(
                f'{sample.metainfo.get("source", "a training sample")} was tokenised by '
                f'a tokenizer (signature {theirs}) that is not the model\'s ({ours}): give '
                'the dataset the model\'s tokenizer, e.g. `train_dataloader = dict('
                'dataset=dict(tokenizer=_base_.tokenizer))` after changing it')
